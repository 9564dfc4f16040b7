/**
 * The worker's payment gauges and capture/void counters, read from the test run's worker
 * /metrics: an order that keeps retrying shows as PENDING_CAPTURE with its age and an
 * authorization that lapses within the hour; cancelling it counts a void.
 */
import { testEnv, token, uniqueId, waitFor } from '../test/support';

type Json = Record<string, any>;

const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelPart = /\{([^}]*)\}/.exec(line)?.[1] ?? '';
    const have = labelPart === '' ? [] : labelPart.split(',');
    if (want.every((w) => have.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
};

describe('payment gauges and counters (worker /metrics)', () => {
  const metrics = async () => (await fetch(`http://127.0.0.1:${testEnv().env.WORKER_METRICS_PORT}/metrics`)).text();

  it('counts open orders by status with their age, authorizations about to lapse, capture outcomes and voids', async () => {
    const writer = await token({ scope: 'payments:write payments:read' });
    const headers = { authorization: `Bearer ${writer}`, 'content-type': 'application/json' };
    const before = await metrics();
    const voidedBefore = sample(before, 'payorch_voids_total', { outcome: 'voided' }) ?? 0;
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': uniqueId('key') },
      body: JSON.stringify({
        buyerId: 'b',
        orderId: uniqueId('order'),
        totalAmount: { quantity: 1200, currency: 'EUR' },
        paymentOrders: [{ sellerId: uniqueId('gauge-seller'), amount: { quantity: 1200, currency: 'EUR' } }],
        // The authorization lapses in 2 hours (captures stop an hour before); captures fail transiently.
        paymentMethod: { token: 'tok_auth_expires_7200+tok_capture_retry_999' },
      }),
    });
    expect(res.status).toBe(202);
    const paymentId = ((await res.json()) as Json).paymentId as string;
    try {
      const text = await waitFor('the retrying order in the gauges', async () => {
        const t = await metrics();
        // Other test files' orders share the database: wait for this one (the only one whose
        // authorization lapses within a day) to be retrying.
        const ours = (sample(t, 'payorch_open_payment_orders_auth_expiring', { within_seconds: '86400' }) ?? 0) >= 1 && (sample(t, 'payorch_capture_outcomes_total', { outcome: 'retryable', code: 'PSP_TEMPORARILY_UNAVAILABLE' }) ?? 0) > 0;
        return ours && (sample(t, 'payorch_payment_orders', { status: 'PENDING_CAPTURE' }) ?? 0) >= 1 && (sample(t, 'payorch_payment_orders_oldest_age_seconds', { status: 'PENDING_CAPTURE' }) ?? 0) > 0 ? t : undefined;
      }, 30_000, 300);
      expect(sample(text, 'payorch_open_payment_orders_auth_expiring', { within_seconds: '86400' })).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'payorch_open_payment_orders_auth_expiring', { within_seconds: '3600' })).toBeDefined();
      expect(sample(text, 'payorch_open_payment_orders_min_auth_remaining_seconds')).toBeLessThanOrEqual(7200);
      expect(sample(text, 'payorch_capture_outcomes_total', { outcome: 'retryable', code: 'PSP_TEMPORARILY_UNAVAILABLE' })).toBeGreaterThan(0);
      for (const status of ['CAPTURED', 'CAPTURE_FAILED', 'VOIDED', 'DECLINED', 'INITIATED_PENDING']) expect(sample(text, 'payorch_payment_orders', { status })).toBeDefined();
      expect(sample(text, 'payorch_refunds', { status: 'REFUND_FAILED' })).toBeDefined();
      expect(sample(text, 'payorch_refunds_oldest_age_seconds', { status: 'REFUND_REQUESTED' })).toBeDefined();
    } finally {
      await fetch(`${testEnv().apiBaseUrl}/api/v1/payments/${paymentId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${writer}`, 'idempotency-key': uniqueId('key') } });
    }
    await waitFor('the void counted', async () => (sample(await metrics(), 'payorch_voids_total', { outcome: 'voided' }) ?? 0) > voidedBefore || undefined, 30_000, 300);
  });
});
