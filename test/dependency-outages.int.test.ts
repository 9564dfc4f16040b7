/**
 * Readiness means "can serve its own requests" (issue 18). The stack's own Kafka and Redis are
 * really stopped (scripts/stack stop, by pid, as bench/fault-runner.ts does) and started again
 * afterwards, whatever the outcome:
 * - Kafka down: the API stays ready and checkouts answer 202; orders are captured; a worker
 *   started during the outage becomes ready (what `scripts/stack start worker` waits for); once
 *   Kafka is back the ledger events flow and the balance appears.
 * - Redis down: balance reads answer from Postgres (equal to the sum of postings), checkouts
 *   answer 202, the API stays ready.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { commissionMinor } from '../ledger/journal';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, testConfig, testEnv, token, uniqueId, waitFor } from './support';

type Json = Record<string, any>;

jest.setTimeout(300_000);

const stack = (...args: string[]): string => execFileSync(path.join(ROOT, 'scripts/stack'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });

describe('dependency outages: the API and the worker stay ready for what they can still do', () => {
  let pg: Client;
  let admin: string;
  const api = () => testEnv().apiBaseUrl;

  beforeAll(async () => {
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    admin = await token({ scope: 'payments:write payments:read balances:read' });
  });
  afterAll(async () => {
    await pg.end();
  });

  const checkout = async (sellerId: string, quantity: number) => {
    const res = await fetch(`${api()}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ buyerId: 'b', orderId: uniqueId('o'), totalAmount: { quantity, currency: 'EUR' }, paymentOrders: [{ sellerId, amount: { quantity, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } }),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const ready = async (baseUrl: string) => {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const paymentStatus = async (paymentId: string) => (await pg.query<{ status: string }>('select status from payments where id = $1', [paymentId])).rows[0]?.status;
  const balance = async (sellerId: string) => {
    const res = await fetch(`${api()}/api/v1/sellers/${encodeURIComponent(sellerId)}/balance`, { headers: { authorization: `Bearer ${admin}` }, signal: AbortSignal.timeout(10_000) });
    const json = (await res.json()) as Json;
    return { status: res.status, quantity: (json.balances as Json[] | undefined)?.find((b) => b.balance.currency === 'EUR')?.balance.quantity as number | undefined };
  };
  const postingsSum = async (sellerId: string) =>
    Number((await pg.query<{ s: string }>(`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as s from postings where account_code = $1`, [`MERCHANT_PAYABLE.${sellerId}`])).rows[0]!.s);
  const batches = async (sellerId: string) =>
    (await pg.query<{ total: number; unpublished: number }>('select count(*)::int as total, (count(*) filter (where published_at is null))::int as unpublished from ledger_batches where stream_id = $1', [sellerId])).rows[0]!;
  const payable = (amounts: number[]) => amounts.reduce((s, a) => s + a - Number(commissionMinor(BigInt(a), testConfig().PLATFORM_COMMISSION_BPS)), 0);

  test('Kafka stopped: the API stays ready, checkouts are 202 and captured, a worker starts and is ready; the balance follows once Kafka is back', async () => {
    const seller = uniqueId('seller-kafka-down');
    let extraWorker: Service | undefined;
    stack('stop', 'kafka');
    try {
      const readiness = await ready(api());
      expect(readiness).toEqual({ status: 200, json: { status: 'ready', checks: { postgres: 'ok', psp: 'ok' } } });
      const accepted = await checkout(seller, 4_000);
      expect(accepted.status).toBe(202);
      await waitFor('the order captured while Kafka is down', async () => (await paymentStatus(accepted.json.paymentId as string)) === 'CAPTURED', 60_000, 200);
      // The outage is real: the capture's ledger batch is committed in Postgres and waits for Kafka.
      await waitFor('a ledger batch waiting for Kafka', async () => (await batches(seller)).unpublished > 0, 60_000, 200);
      // A worker (re)started during the outage: ready, because Kafka is not among its own dependencies.
      const port = await freePort();
      extraWorker = await startService({ name: 'worker-kafka-down', entry: 'temporal/worker.main.ts', root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test'), port, env: { ...testEnv().env, WORKER_METRICS_PORT: String(port), WORKER_SDK_METRICS_PORT: '0' }, readyTimeoutMs: 60_000 });
      expect((await ready(`http://127.0.0.1:${port}`)).status).toBe(200);
      expect((await ready(api())).status).toBe(200);
    } finally {
      if (extraWorker) await stopService(extraWorker);
      stack('start', 'kafka');
    }
    // Nothing was lost: the batch waited in Postgres, is published now, and the balance agrees.
    await waitFor('the ledger batch published after Kafka is back', async () => {
      const b = await batches(seller);
      return b.total > 0 && b.unpublished === 0;
    }, 120_000, 500);
    await waitFor('the balance after Kafka is back', async () => (await balance(seller)).quantity === payable([4_000]), 120_000, 500);
    expect(await postingsSum(seller)).toBe(payable([4_000]));
  });

  test('Redis stopped: balance reads answer from Postgres, checkouts are 202, the API stays ready', async () => {
    const seller = uniqueId('seller-redis-down');
    const first = await checkout(seller, 2_500);
    expect(first.status).toBe(202);
    await waitFor('the first balance through Redis', async () => (await balance(seller)).quantity === payable([2_500]), 60_000, 200);
    stack('stop', 'redis');
    try {
      expect(await ready(api())).toEqual({ status: 200, json: { status: 'ready', checks: { postgres: 'ok', psp: 'ok' } } });
      expect(await balance(seller)).toEqual({ status: 200, quantity: payable([2_500]) });
      const second = await checkout(seller, 1_500);
      expect(second.status).toBe(202);
      await waitFor('the second order captured while Redis is down', async () => (await paymentStatus(second.json.paymentId as string)) === 'CAPTURED', 60_000, 200);
      // Still answered without Redis, and it is the ledger's truth (which now includes the second capture).
      await waitFor('the balance from Postgres includes the second capture', async () => {
        const b = await balance(seller);
        return b.status === 200 && b.quantity === payable([2_500, 1_500]) && b.quantity === (await postingsSum(seller));
      }, 60_000, 500);
    } finally {
      stack('start', 'redis');
    }
    // Redis came back empty (no persistence): the aggregator rebuilds from Postgres and reads agree.
    await waitFor('the balance after Redis is back', async () => (await balance(seller)).quantity === payable([2_500, 1_500]), 60_000, 500);
  });
});
