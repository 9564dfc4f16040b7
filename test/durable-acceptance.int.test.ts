/**
 * Durable acceptance: a 202 means every PaymentOrder workflow will run, even when the API process
 * is killed (SIGKILL) at the critical point - right after its transaction committed but before it
 * answered or started any workflow, and right after it answered. The run's worker (with the outbox
 * relay) is the only other process involved.
 */
import path from 'node:path';
import { Client } from 'pg';
import { DATA_DIR, ROOT, testConfig, testEnv, token, uniqueId, waitFor } from './support';
import { freePort, startService, stopService, type Service } from './processes';

type Json = Record<string, any>;

describe('durable acceptance when the API process dies', () => {
  let pg: Client;
  beforeAll(async () => {
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
  });
  afterAll(async () => {
    await pg.end();
  });

  const startFaultyApi = async (fault: string): Promise<Service> => {
    const port = await freePort();
    return startService({
      name: `api-${fault}`,
      entry: 'api/main.ts',
      root: ROOT,
      logDir: path.join(DATA_DIR, 'logs', 'test'),
      port,
      env: { ...testEnv().env, API_PORT: String(port), FAULT_INJECT: fault },
    });
  };
  const checkout = () => ({
    buyerId: uniqueId('buyer'),
    orderId: uniqueId('order'),
    totalAmount: { quantity: 5000, currency: 'EUR' },
    paymentOrders: [
      { sellerId: uniqueId('seller'), amount: { quantity: 1500, currency: 'EUR' } },
      { sellerId: uniqueId('seller'), amount: { quantity: 3500, currency: 'EUR' } },
    ],
  });
  const send = async (baseUrl: string, request: Json, key: string) =>
    fetch(`${baseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(request),
    });
  const ordersOf = async (orderId: string) =>
    (await pg.query<{ id: string; status: string; payment_id: string }>('select po.id, po.status, po.payment_id from payment_orders po join payments p on p.id = po.payment_id where p.order_id = $1', [orderId])).rows;
  const capturesOf = async (reference: string) => ((await (await fetch(`${testEnv().pspBaseUrl}/v1/captures/log?reference=${reference}`)).json()) as { captures: unknown[] }).captures.length;

  const expectAllCapturedOnce = async (orderId: string) => {
    const orders = await waitFor(
      'every order CAPTURED',
      async () => {
        const rows = await ordersOf(orderId);
        return rows.length === 2 && rows.every((r) => r.status === 'CAPTURED') ? rows : undefined;
      },
      60_000,
      250,
    );
    for (const o of orders) expect(await capturesOf(o.id)).toBe(1);
    return orders;
  };

  test('killed after the commit, before answering: the relay starts every workflow; the retry replays the 202', async () => {
    const api = await startFaultyApi('crash-after-commit');
    const request = checkout();
    const key = uniqueId('crash-commit');
    const exited = new Promise((resolve) => api.child.once('exit', (_code, signal) => resolve(signal)));
    await expect(send(`http://127.0.0.1:${api.port}`, request, key)).rejects.toThrow();
    expect(await exited).toBe('SIGKILL');

    // Recorded but never answered, and no workflow started by the dead process.
    const recorded = await ordersOf(request.orderId);
    expect(recorded).toHaveLength(2);

    const orders = await expectAllCapturedOnce(request.orderId);
    const replay = await send(testEnv().apiBaseUrl, request, key);
    expect(replay.status).toBe(202);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as Json).paymentId).toBe(orders[0]!.payment_id);
  });

  test('killed right after answering 202: every workflow still runs to CAPTURED exactly once', async () => {
    const api = await startFaultyApi('crash-after-response');
    const request = checkout();
    const res = await send(`http://127.0.0.1:${api.port}`, request, uniqueId('crash-response'));
    expect(res.status).toBe(202);
    await waitFor('the API process to die', async () => api.child.exitCode !== null || api.child.signalCode !== null, 10_000);
    expect(api.child.signalCode).toBe('SIGKILL');
    await stopService(api);
    await expectAllCapturedOnce(request.orderId);
  });
});
