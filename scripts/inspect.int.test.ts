/**
 * `npm run -s inspect` against the test run's stack: a captured and partly refunded payment, one
 * refund by its id, an order that keeps retrying (a pending timer), and ids it does not know.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { ROOT, testEnv, token, uniqueId, waitFor } from '../test/support';
import type { InspectReport } from './inspect';

const run = promisify(execFile);
type Json = Record<string, any>;

describe('inspect', () => {
  let writer: string;
  beforeAll(async () => {
    writer = await token({ scope: 'payments:write payments:read refunds:write' });
  });
  const call = async (method: string, path: string, payload?: unknown) => {
    const res = await fetch(`${testEnv().apiBaseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${writer}`, ...(method === 'POST' ? { 'content-type': 'application/json', 'idempotency-key': uniqueId('key') } : {}) },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const checkout = async (tokenName: string, amounts: number[]) => {
    const res = await call('POST', '/api/v1/payments', {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity: amounts.reduce((a, b) => a + b, 0), currency: 'EUR' },
      paymentOrders: amounts.map((quantity) => ({ sellerId: uniqueId('inspect-seller'), amount: { quantity, currency: 'EUR' } })),
      paymentMethod: { token: tokenName },
    });
    expect(res.status).toBe(202);
    return { paymentId: res.json.paymentId as string, orders: res.json.paymentOrders as Array<{ paymentOrderId: string; sellerId: string }> };
  };
  const inspectCli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/inspect.ts', ...args], { cwd: ROOT, env: { ...process.env, ...testEnv().env }, maxBuffer: 16 * 1024 * 1024 });
  const inspect = async (id: string) => JSON.parse((await inspectCli(id, '--json')).stdout) as InspectReport;
  const pspBody = (r: unknown) => (r as { body: Json }).body;

  it('explains a captured, partly refunded payment: rows, workflows, PSP records, ledger and balance effects', async () => {
    const { paymentId, orders } = await checkout('tok_visa', [1_000, 2_000]);
    await waitFor('captured', async () => ((await call('GET', `/api/v1/payments/${paymentId}`)).json.paymentOrders as Json[]).every((o) => o.status === 'CAPTURED'), 30_000, 200);
    const refund = await call('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId: orders[0]!.paymentOrderId, amount: { quantity: 400, currency: 'EUR' } });
    expect(refund.status).toBe(202);
    const refundId = refund.json.refundId as string;
    // Until the ledger has journaled both captures and the refund.
    const report = await waitFor('every entry journaled', async () => {
      const r = await inspect(paymentId);
      const entries = [...r.orders, ...r.refunds].flatMap((x) => x.ledger.entries.map((e) => String(e.id)));
      return r.refunds[0]?.refund.status === 'REFUNDED' && entries.includes(`REFUND:${refundId}`) && orders.every((o) => entries.includes(`CAPTURE:${o.paymentOrderId}`)) ? r : undefined;
    }, 60_000, 500);

    expect(report.subject).toEqual({ kind: 'payment', id: paymentId });
    expect(report.payment.status).toBe('PARTIALLY_REFUNDED');
    expect(report.payment.authExpiresInS).toBeGreaterThan(0);
    expect(report.taskQueue.name).toBe(testEnv().env.TEMPORAL_TASK_QUEUE);
    expect(report.taskQueue.workflowPollers).toBeGreaterThan(0);
    expect(report.orders.map((o) => o.order.id)).toEqual(orders.map((o) => o.paymentOrderId));
    for (const o of report.orders) {
      expect(o.workflow).toMatchObject({ found: true, executionStatus: 'COMPLETED', searchAttributes: { PaymentOrderStatus: 'CAPTURED', PaymentId: paymentId, SellerId: o.order.seller_id, CaptureAttempts: 1 } });
      expect(o.workflow.state).toMatchObject({ status: 'CAPTURED', attempts: 1 });
      // The PSP's record, asked by the capture's idempotency key, is the capture the database holds.
      expect(pspBody(o.psp.captureLookup)).toMatchObject({ status: 'CAPTURED', captureId: o.order.psp_capture_id });
      expect((pspBody(o.psp.captureLog).captures as Json[]).map((c) => c.idempotencyKey)).toEqual([`capture:${String(o.order.id)}`]);
      expect(o.ledger.entries.map((e) => e.entry_type).sort()).toEqual(['AUTH_HOLD', 'CAPTURE']);
      // Double entry: the effects of an order's postings sum to zero; the seller is owed the order's amount less commission.
      expect(o.ledger.effects.reduce((s, e) => s + BigInt(e.netMinor), 0n)).toBe(0n);
      const payable = o.ledger.effects.find((e) => e.accountCode === `MERCHANT_PAYABLE.${String(o.order.seller_id)}`);
      expect(BigInt(payable!.netMinor)).toBe(BigInt(o.order.amount_minor as string) - (BigInt(o.order.amount_minor as string) * 250n) / 10_000n);
    }
    const [r] = report.refunds;
    expect(r!.workflow).toMatchObject({ executionStatus: 'COMPLETED', searchAttributes: { RefundStatus: 'REFUNDED' } });
    expect(pspBody(r!.psp.refundLookup)).toMatchObject({ status: 'REFUNDED', refundId: r!.refund.psp_refund_id });
    expect(r!.ledger.entries.map((e) => e.id)).toEqual([`REFUND:${refundId}`]);
    expect(r!.ledger.effects.reduce((s, e) => s + BigInt(e.netMinor), 0n)).toBe(0n);

    // By the refund's id: that refund and its order only.
    const byRefund = await inspect(refundId);
    expect(byRefund.subject).toEqual({ kind: 'refund', id: refundId });
    expect(byRefund.orders.map((o) => o.order.id)).toEqual([orders[0]!.paymentOrderId]);
    expect(byRefund.refunds.map((x) => x.refund.id)).toEqual([refundId]);

    // The text form: one screen with the same facts.
    const { stdout } = await inspectCli(orders[1]!.paymentOrderId);
    expect(stdout).toContain(`paymentOrder ${orders[1]!.paymentOrderId}`);
    expect(stdout).toContain(`order ${orders[1]!.paymentOrderId}  CAPTURED`);
    expect(stdout).toContain('search attributes: PaymentOrderStatus=CAPTURED');
    expect(stdout).toContain(`entry CAPTURE:${orders[1]!.paymentOrderId}`);
    expect(stdout).toContain(`MERCHANT_PAYABLE.${orders[1]!.sellerId} +1950 EUR`);
    expect(stdout).not.toContain(`refund ${refundId}`);
  });

  it('shows an order that keeps retrying: status, attempts, the pending timer and when it fires', async () => {
    const { paymentId, orders } = await checkout('tok_capture_retry_999', [1_500]);
    const orderId = orders[0]!.paymentOrderId;
    try {
      const report = await waitFor('a pending backoff timer', async () => {
        const r = await inspect(orderId);
        const w = r.orders[0]!.workflow;
        // The AUTH_HOLD fact is journaled by the seller's ledger moments after the transition.
        return w.searchAttributes?.PaymentOrderStatus === 'PENDING_CAPTURE' && (w.pendingTimers ?? []).length === 1 && r.orders[0]!.ledger.entries.length > 0 ? r : undefined;
      }, 60_000, 0);
      const o = report.orders[0]!;
      expect(report.subject).toEqual({ kind: 'paymentOrder', id: orderId });
      expect(o.workflow.executionStatus).toBe('RUNNING');
      expect(o.workflow.searchAttributes).toMatchObject({ LastPspErrorCode: 'PSP_TEMPORARILY_UNAVAILABLE' });
      const [timer] = o.workflow.pendingTimers!;
      expect(Date.parse(timer!.firesAt)).toBeGreaterThan(Date.parse(timer!.startedAt));
      expect(o.order.status).toBe('PENDING_CAPTURE');
      expect(pspBody(o.psp.captureLookup)).toMatchObject({ status: 'NOT_FOUND' });
      expect(o.ledger.entries.map((e) => e.entry_type)).toEqual(['AUTH_HOLD']);
    } finally {
      await call('POST', `/api/v1/payments/${paymentId}/cancel`);
    }
  });

  it('exits 1 for an id it does not know and 2 for one that is not a UUID', async () => {
    const fail = (...args: string[]) => inspectCli(...args).then(() => undefined, (err: { code?: number; stderr?: string }) => err);
    const unknown = await fail(randomUUID());
    expect(unknown?.code).toBe(1);
    expect(unknown?.stderr).toContain('no payment, payment order or refund has the id');
    expect((await fail('not-an-id'))?.code).toBe(2);
  });
});
