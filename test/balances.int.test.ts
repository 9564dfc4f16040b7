/**
 * Balances end to end on the real stack: checkouts through the API, the ledger workflow, Kafka,
 * the run's aggregator (and a second one in the same group), Redis and Postgres. The expected
 * balance is always computed independently from the checkout amounts and the commission rate, and
 * checked against the sum of the postings in Postgres.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { createDb } from '../db/client';
import { createBalanceStore } from '../aggregator/balance-store';
import { dlqTopicOf } from '../kafka/topics';
import { commissionMinor } from '../ledger/journal';
import { collectLedgerEvents } from './fixtures';
import { freePort, startService, stopService } from './processes';
import { DATA_DIR, ROOT, testConfig, testEnv, token, uniqueId, waitFor } from './support';

type Json = Record<string, any>;

describe('merchant balances', () => {
  const config = () => testConfig();
  let pg: Client;
  let admin: string;
  beforeAll(async () => {
    pg = new Client({ connectionString: config().DATABASE_URL });
    await pg.connect();
    admin = await token({ scope: 'payments:write payments:read balances:read' });
  });
  afterAll(async () => {
    await pg.end();
  });

  /** Pays `amounts[i]` to `sellers[i]` in one checkout and waits until every order is final. */
  const checkout = async (orders: Array<{ sellerId: string; quantity: number }>, cardToken = 'tok_visa') => {
    const total = orders.reduce((s, o) => s + o.quantity, 0);
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ buyerId: 'b', orderId: uniqueId('o'), totalAmount: { quantity: total, currency: 'EUR' }, paymentOrders: orders.map((o) => ({ sellerId: o.sellerId, amount: { quantity: o.quantity, currency: 'EUR' } })), paymentMethod: { token: cardToken } }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { paymentId: string }).paymentId;
  };
  const waitFinal = (paymentIds: string[]) =>
    waitFor('payments final', async () => (await pg.query<{ n: number }>(`select count(*)::int as n from payments where id = any($1) and status = 'AUTHORIZED'`, [paymentIds])).rows[0]!.n === 0, 60_000, 200);
  const balanceOf = async (sellerId: string, auth = admin) => {
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/sellers/${encodeURIComponent(sellerId)}/balance`, { headers: { authorization: `Bearer ${auth}` } });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const quantityOf = async (sellerId: string) => {
    const res = await balanceOf(sellerId);
    expect(res.status).toBe(200);
    return (res.json.balances as Json[]).find((b) => b.balance.currency === 'EUR')?.balance.quantity as number | undefined;
  };
  /** The truth: sum of the seller's MERCHANT_PAYABLE postings in Postgres. */
  const postingsSum = async (sellerId: string) =>
    Number((await pg.query<{ s: string }>(`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as s from postings where account_code = $1`, [`MERCHANT_PAYABLE.${sellerId}`])).rows[0]!.s);
  const expectBalance = (sellerId: string, expected: number) =>
    waitFor(`balance of ${sellerId} = ${expected}`, async () => ((await quantityOf(sellerId)) === expected ? true : undefined), 30_000, 200);
  const payable = (amounts: number[]) => amounts.reduce((s, a) => s + a - Number(commissionMinor(BigInt(a), config().PLATFORM_COMMISSION_BPS)), 0);

  test('after a batch of real checkouts a balance equals captured amounts minus commission, and the sum of postings', async () => {
    const [a, b] = [uniqueId('seller-a'), uniqueId('seller-b')];
    const ids = [
      await checkout([{ sellerId: a, quantity: 1_001 }, { sellerId: b, quantity: 2_003 }]),
      await checkout([{ sellerId: a, quantity: 999 }]),
      await checkout([{ sellerId: b, quantity: 4_057 }, { sellerId: a, quantity: 10 }]),
      await checkout([{ sellerId: a, quantity: 5_000 }], 'tok_capture_fail'), // not captured: no payable
    ];
    await waitFinal(ids);
    await expectBalance(a, payable([1_001, 999, 10]));
    await expectBalance(b, payable([2_003, 4_057]));
    expect(await quantityOf(a)).toBe(await postingsSum(a));
    const body = (await balanceOf(a)).json;
    expect(body).toMatchObject({ sellerId: a, balances: [{ accountCode: `MERCHANT_PAYABLE.${a}`, balance: { currency: 'EUR' }, lastAppliedEntryId: expect.stringMatching(/^CAPTURE:/), asOf: expect.any(String) }] });
  });

  test('seller isolation: own balance and /me with a seller token; another seller is 403; no entries is an empty list', async () => {
    const [a, b] = [uniqueId('iso-a'), uniqueId('iso-b')];
    await waitFinal([await checkout([{ sellerId: a, quantity: 700 }])]);
    const sellerA = await token({ scope: '', sellerId: a, sub: `seller:${a}` });
    await expectBalance(a, payable([700]));
    expect((await balanceOf(a, sellerA)).status).toBe(200);
    const me = await fetch(`${testEnv().apiBaseUrl}/api/v1/sellers/me/balance`, { headers: { authorization: `Bearer ${sellerA}` } });
    expect(((await me.json()) as Json).sellerId).toBe(a);
    const other = await balanceOf(b, sellerA);
    expect(other.status).toBe(403);
    expect(other.json.type).toMatch(/forbidden/);
    const notSeller = await fetch(`${testEnv().apiBaseUrl}/api/v1/sellers/me/balance`, { headers: { authorization: `Bearer ${await token({ scope: 'payments:write' })}` } });
    expect(notSeller.status).toBe(403);
    expect(await balanceOf(uniqueId('nobody'))).toEqual({ status: 200, json: { sellerId: expect.any(String), balances: [] } });
    expect((await fetch(`${testEnv().apiBaseUrl}/api/v1/sellers/x/balance`)).status).toBe(401);
  });

  test('duplicated and replayed events change nothing', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    const kafka = new Kafka({ clientId: 'replayer', brokers: config().KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    try {
      const s = uniqueId('replay');
      await waitFinal([await checkout([{ sellerId: s, quantity: 1_234 }]), await checkout([{ sellerId: s, quantity: 766 }])]);
      await expectBalance(s, payable([1_234, 766]));
      // Two payments: AUTH_HOLD and CAPTURE each, in however many batches the ledger made.
      const mine = await waitFor('events of the seller', async () => {
        const list = collector.events.filter((e) => e.aggregateId === s);
        return list.flatMap((e) => e.data.entries).length >= 4 ? list : undefined;
      });
      // Replay every event twice, newest first (out of order), as a broken producer or a reset offset would.
      const replays = [...mine].reverse().flatMap((e) => [e, e]);
      await producer.send({ topic: config().LEDGER_TOPIC, messages: replays.map((e) => ({ key: s, value: JSON.stringify(e) })) });
      // A later genuine payment proves the replays were consumed before it.
      await waitFinal([await checkout([{ sellerId: s, quantity: 100 }])]);
      await expectBalance(s, payable([1_234, 766, 100]));
      expect(await quantityOf(s)).toBe(await postingsSum(s));
    } finally {
      await producer.disconnect();
      await collector.stop();
    }
  });

  test('a poison message goes to the DLQ with the error in its headers; later messages still apply', async () => {
    const kafka = new Kafka({ clientId: 'poisoner', brokers: config().KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    const dlq = kafka.consumer({ groupId: uniqueId('dlq-reader') });
    await producer.connect();
    await dlq.connect();
    await dlq.subscribe({ topic: dlqTopicOf(config().LEDGER_TOPIC), fromBeginning: true });
    const dead: Array<{ value: string; headers: Record<string, string> }> = [];
    await dlq.run({ eachMessage: async ({ message }) => void dead.push({ value: message.value!.toString(), headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])) }) });
    try {
      const s = uniqueId('poison');
      const marker = uniqueId('garbage');
      await producer.send({ topic: config().LEDGER_TOPIC, messages: [{ key: s, value: `{"not":"an event","marker":"${marker}"}` }] });
      await waitFinal([await checkout([{ sellerId: s, quantity: 3_333 }])]);
      await expectBalance(s, payable([3_333]));
      const poisoned = await waitFor('the poison message in the DLQ', async () => dead.find((d) => d.value.includes(marker)));
      expect(poisoned.headers).toMatchObject({ 'x-error-type': 'PoisonMessageError', 'x-original-topic': config().LEDGER_TOPIC, 'x-error-message': expect.stringMatching(/invalid event/) });
      const metrics = await (await fetch(`http://127.0.0.1:${config().AGGREGATOR_METRICS_PORT}/metrics`)).text();
      expect(metrics).toMatch(/aggregator_dlq_messages_total\{reason="invalid"\} [1-9]/);
    } finally {
      await dlq.disconnect();
      await producer.disconnect();
    }
  });

  test('after Redis loses its data, reads still equal the sum of postings, and the aggregator rebuilds and goes on', async () => {
    const s = uniqueId('flush');
    await waitFinal([await checkout([{ sellerId: s, quantity: 2_500 }]), await checkout([{ sellerId: s, quantity: 1_500 }])]);
    await expectBalance(s, payable([2_500, 1_500]));
    const redis = new Redis(config().REDIS_URL);
    try {
      await redis.flushall();
      expect(await quantityOf(s)).toBe(await postingsSum(s)); // straight after the flush
      await waitFinal([await checkout([{ sellerId: s, quantity: 1_000 }])]);
      // Reads are right at once (from Postgres while Redis is empty) and stay right after the
      // aggregator, woken by the new events, has rebuilt Redis from Postgres.
      await expectBalance(s, payable([2_500, 1_500, 1_000]));
      await waitFor('the aggregator to rebuild Redis', async () => (await redis.exists(`${config().BALANCE_REDIS_PREFIX}epoch`)) === 1, 30_000, 100);
      await expectBalance(s, payable([2_500, 1_500, 1_000]));
      expect(await quantityOf(s)).toBe(await postingsSum(s));
    } finally {
      redis.disconnect();
    }
  });

  test('two aggregator instances in one group produce the same balances as one', async () => {
    const port = await freePort();
    const second = await startService({ name: 'aggregator-2', entry: 'aggregator/main.ts', root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test'), port, env: { ...testEnv().env, AGGREGATOR_METRICS_PORT: String(port) } });
    try {
      const sellers = Array.from({ length: 6 }, () => uniqueId('pair'));
      const amounts = new Map(sellers.map((s) => [s, [] as number[]]));
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const orders = [sellers[i % 6]!, sellers[(i + 1) % 6]!].map((sellerId, j) => ({ sellerId, quantity: 100 + i * 10 + j }));
        orders.forEach((o) => amounts.get(o.sellerId)!.push(o.quantity));
        ids.push(await checkout(orders));
      }
      await waitFinal(ids);
      for (const s of sellers) await expectBalance(s, payable(amounts.get(s)!));
      for (const s of sellers) expect(await quantityOf(s)).toBe(await postingsSum(s));
      // Both instances hold partitions of the topic.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/aggregator_events_total/);
    } finally {
      await stopService(second);
    }
  });

  test('the snapshot job folds deltas into Postgres without changing any balance', async () => {
    const s = uniqueId('fold');
    await waitFinal([await checkout([{ sellerId: s, quantity: 4_321 }])]);
    await expectBalance(s, payable([4_321]));
    const row = await waitFor('a snapshot row', async () => (await pg.query<{ balance_minor: string }>(`select balance_minor::text from account_balances where stream_id = $1 and account_code = $2`, [s, `MERCHANT_PAYABLE.${s}`])).rows[0], 10_000, 200);
    expect(Number(row.balance_minor)).toBe(payable([4_321]));
    expect(await quantityOf(s)).toBe(payable([4_321]));
    // Reading through a store without Redis data (Postgres only) gives the same answer.
    const { db, pool } = createDb({ url: config().DATABASE_URL, poolMax: 1, applicationName: 'fold-test' });
    const redis = new Redis(config().REDIS_URL);
    try {
      const isolated = createBalanceStore({ redis, db, keyPrefix: `${uniqueId('empty')}:` });
      expect((await isolated.readSellerBalances(s)).map((b) => b.balanceMinor)).toEqual([BigInt(payable([4_321]))]);
    } finally {
      redis.disconnect();
      await pool.end();
    }
  });
});
