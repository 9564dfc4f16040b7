/**
 * `npm run -s stuck` against the test run's stack: a failed capture (a completed workflow) is found
 * by `--status CAPTURE_FAILED --since 1h` and by the default "needs attention" view; an order that
 * keeps retrying shows as still capturing.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, testEnv, token, uniqueId, waitFor } from '../test/support';

const run = promisify(execFile);
type Json = Record<string, any>;

describe('stuck', () => {
  let writer: string;
  beforeAll(async () => {
    writer = await token({ scope: 'payments:write payments:read' });
  });
  const call = async (method: string, path: string, payload?: unknown) => {
    const res = await fetch(`${testEnv().apiBaseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${writer}`, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': uniqueId('key') }) },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const checkout = async (tokenName: string) => {
    const res = await call('POST', '/api/v1/payments', {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity: 3000, currency: 'EUR' },
      paymentOrders: [
        { sellerId: uniqueId('stuck-seller'), amount: { quantity: 1000, currency: 'EUR' } },
        { sellerId: uniqueId('stuck-seller'), amount: { quantity: 2000, currency: 'EUR' } },
      ],
      paymentMethod: { token: tokenName },
    });
    expect(res.status).toBe(202);
    return { paymentId: res.json.paymentId as string, orderIds: (res.json.paymentOrders as Json[]).map((o) => o.paymentOrderId as string) };
  };
  const stuck = async (...args: string[]) => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/stuck.ts', ...args, '--json'], { cwd: ROOT, env: { ...process.env, ...testEnv().env } });
    return (JSON.parse(stdout) as { sections: Array<{ name: string; query: string; rows: Array<{ workflowId: string; status: string; executionStatus: string }> }> }).sections;
  };
  const ids = (section: { rows: Array<{ workflowId: string }> } | undefined) => (section?.rows ?? []).map((r) => r.workflowId);

  it('finds failed captures among closed workflows, and orders that keep retrying', async () => {
    const failed = await checkout('tok_capture_fail');
    await waitFor('both orders CAPTURE_FAILED', async () => ((await call('GET', `/api/v1/payments/${failed.paymentId}`)).json.paymentOrders as Json[]).every((o) => o.status === 'CAPTURE_FAILED'), 30_000, 200);
    const expected = failed.orderIds.map((id) => `payment-order:${id}`).sort();

    // The listing lags the workflow's close by a moment (visibility is eventually consistent).
    const byStatus = await waitFor('--status CAPTURE_FAILED lists both', async () => {
      const [section] = await stuck('--status', 'CAPTURE_FAILED', '--since', '1h');
      return expected.every((id) => ids(section).includes(id)) ? section : undefined;
    }, 20_000, 500);
    expect(byStatus.rows.filter((r) => expected.includes(r.workflowId)).map((r) => [r.status, r.executionStatus])).toEqual([
      ['CAPTURE_FAILED', 'COMPLETED'],
      ['CAPTURE_FAILED', 'COMPLETED'],
    ]);
    expect(byStatus.query).toContain(`TaskQueue = '${testEnv().env.TEMPORAL_TASK_QUEUE}'`);

    const retrying = await checkout('tok_capture_retry_999');
    try {
      const view = await waitFor('the default view lists the failed captures and the retrying orders', async () => {
        const sections = await stuck('--older-than', '1s', '--since', '1h');
        const by = Object.fromEntries(sections.map((s) => [s.name, s]));
        const capturing = ids(by.capturing);
        return expected.every((id) => ids(by['capture-failed']).includes(id)) && retrying.orderIds.every((id) => capturing.includes(`payment-order:${id}`)) ? by : undefined;
      }, 30_000, 500);
      expect(ids(view.capturing)).not.toContain(expected[0]);
      // A narrow window leaves the failed captures out: --since is the close time.
      await new Promise((r) => setTimeout(r, 1_500));
      const [recent] = await stuck('--status', 'CAPTURE_FAILED', '--since', '1s');
      expect(ids(recent).filter((id) => expected.includes(id))).toEqual([]);
    } finally {
      await call('POST', `/api/v1/payments/${retrying.paymentId}/cancel`, {});
    }
  });

  it('rejects an unknown status with exit code 2', async () => {
    const failure = await run(process.execPath, ['--import', 'tsx', 'scripts/stuck.ts', '--status', 'NOPE'], { cwd: ROOT, env: { ...process.env, ...testEnv().env } }).then(
      () => undefined,
      (err: { code?: number; stderr?: string }) => err,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('--status one of');
  });
});
