/**
 * Logs are JSON lines with context, and never carry secrets: the dev signing secret, bearer
 * tokens or card tokens sent by clients do not appear in any service's log.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR, testConfig, testEnv, token, waitFor } from './support';

const logDir = path.join(DATA_DIR, 'logs', 'test');
const logLines = (name: string) => readFileSync(path.join(logDir, `${name}.log`), 'utf8').split('\n').filter((l) => l.trim().length > 0);

describe('logs', () => {
  test('the worker logs JSON with workflow and payment context; no service logs a secret or a token', async () => {
    const jwt = await token();
    const sellerId = `logs-${randomUUID().slice(0, 8)}`;
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ buyerId: 'b', orderId: randomUUID(), totalAmount: { quantity: 900, currency: 'EUR' }, paymentOrders: [{ sellerId, amount: { quantity: 900, currency: 'EUR' } }], paymentMethod: { token: 'tok_capture_fail' } }),
    });
    expect(res.status).toBe(202);
    const paymentOrderId = ((await res.json()) as { paymentOrders: Array<{ paymentOrderId: string }> }).paymentOrders[0]!.paymentOrderId;

    const line = await waitFor('the workflow warning in the worker log', async () =>
      logLines('worker')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.paymentOrderId === paymentOrderId && l.msg === 'capture rejected by the PSP'),
    );
    expect(line).toMatchObject({ level: 'warn', service: 'worker', workflowId: `payment-order:${paymentOrderId}`, workflowType: 'paymentOrderWorkflow', code: 'CAPTURE_REJECTED', time: expect.any(String) });

    const secret = testConfig().AUTH_DEV_SECRET!;
    const forbidden = [secret, jwt, jwt.split('.')[2]!, 'tok_capture_fail', 'tok_visa', 'tok_chargeDeclined'];
    for (const file of readdirSync(logDir).filter((f) => f.endsWith('.log'))) {
      const text = readFileSync(path.join(logDir, file), 'utf8');
      for (const needle of forbidden) expect({ file, leaks: text.includes(needle) ? needle.slice(0, 12) : null }).toEqual({ file, leaks: null });
    }
  });
});
