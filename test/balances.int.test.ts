/**
 * Balances end to end on the real stack: checkouts through the API, the ledger workflow, Kafka,
 * the run's aggregator (and a second one in the same group), Redis and Postgres. The expected
 * balance is always computed independently from the checkout amounts and the commission rate, and
 * checked against the sum of the postings in Postgres.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { AssignerProtocol, Kafka, logLevel, Partitioners } from 'kafkajs';
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
    expect(await balanceOf(uniqueId('nobody'))).toEqual({ status: 200, json: { sellerId: expect.any(String), balances: [], available: [] } });
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

  test('after Redis loses its data, reads still equal the sum of postings, and the aggregator rebuilds the stream from Postgres and goes on', async () => {
    const s = uniqueId('flush');
    await waitFinal([await checkout([{ sellerId: s, quantity: 2_500 }]), await checkout([{ sellerId: s, quantity: 1_500 }])]);
    await expectBalance(s, payable([2_500, 1_500]));
    const redis = new Redis(config().REDIS_URL);
    const { db, pool } = createDb({ url: config().DATABASE_URL, poolMax: 1, applicationName: 'flush-test' });
    const store = createBalanceStore({ redis, db, keyPrefix: config().BALANCE_REDIS_PREFIX });
    const lastSeq = async () => Number((await pg.query<{ s: string }>(`select coalesce(max(last_seq), 0)::text as s from ledger_streams where stream_id = $1`, [s])).rows[0]!.s);
    try {
      await redis.flushall();
      expect(await store.streamState(s)).toEqual({ known: false, applied: 0, stoppedAt: null });
      expect(await quantityOf(s)).toBe(await postingsSum(s)); // straight after the flush, from Postgres
      await waitFinal([await checkout([{ sellerId: s, quantity: 1_000 }])]);
      // The next event of the stream finds it unknown to Redis: the aggregator rebuilds it from
      // Postgres (everything up to Postgres's last sequence) and applies from there.
      await waitFor('the stream rebuilt in Redis', async () => {
        const state = await store.streamState(s);
        return state.known && state.stoppedAt === null && state.applied === (await lastSeq());
      }, 30_000, 100);
      await expectBalance(s, payable([2_500, 1_500, 1_000]));
      const applied = await store.appliedBalances(s);
      expect(applied.balances.get('EUR')).toBe(BigInt(payable([2_500, 1_500, 1_000])));
      expect(await quantityOf(s)).toBe(await postingsSum(s));
    } finally {
      redis.disconnect();
      await pool.end();
    }
  });

  test('seller ids with |, :, braces, spaces and non-ASCII each get their own balance, folded under their own account and stream', async () => {
    const base = uniqueId('key');
    const [a, b] = [`${base}|USD|x`, `${base} {ü}: 東京`];
    await waitFinal([await checkout([{ sellerId: a, quantity: 1_111 }, { sellerId: b, quantity: 2_222 }]), await checkout([{ sellerId: a, quantity: 333 }])]);
    await expectBalance(a, payable([1_111, 333]));
    await expectBalance(b, payable([2_222]));
    expect((await balanceOf(a)).json.balances).toEqual([expect.objectContaining({ accountCode: `MERCHANT_PAYABLE.${a}`, balance: { quantity: payable([1_111, 333]), currency: 'EUR' } })]);
    const folded = async () =>
      (await pg.query<{ account_code: string; currency: string; stream_id: string; balance_minor: string }>(
        `select account_code, currency, stream_id, balance_minor::text from account_balances where stream_id = any($1) and account_code like 'MERCHANT\\_PAYABLE.%' order by stream_id desc`,
        [[a, b]],
      )).rows;
    await waitFor('the snapshot job to fold both', async () => (await folded()).length === 2 && (await folded()).every((r) => Number(r.balance_minor) === (r.stream_id === a ? payable([1_111, 333]) : payable([2_222]))), 15_000, 200);
    expect(await folded()).toEqual([
      { account_code: `MERCHANT_PAYABLE.${a}`, currency: 'EUR', stream_id: a, balance_minor: String(payable([1_111, 333])) },
      { account_code: `MERCHANT_PAYABLE.${b}`, currency: 'EUR', stream_id: b, balance_minor: String(payable([2_222])) },
    ]);
  });

  test('two aggregator instances in one group share the partitions, each applies its share, and the balances equal one instance\'s', async () => {
    const topic = config().LEDGER_TOPIC;
    const group = config().AGGREGATOR_GROUP_ID;
    const kafka = new Kafka({ clientId: 'pair-test', brokers: config().KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const partitionCount = (await admin.fetchTopicOffsets(topic)).length;
    // Sellers chosen so that every partition carries one (the ledger's producer uses kafkajs's default partitioner).
    const partitionOf = Partitioners.DefaultPartitioner();
    const metadata = Array.from({ length: partitionCount }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    const byPartition = new Map<number, string>();
    while (byPartition.size < partitionCount) {
      const candidate = uniqueId('pair');
      const p = partitionOf({ topic, partitionMetadata: metadata, message: { key: candidate, value: null } });
      if (!byPartition.has(p)) byPartition.set(p, candidate);
    }
    const sellers = [...byPartition.values()];
    const metricsOf = async (port: number) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
      return { assigned: value(/^aggregator_assigned_partitions (\S+)$/m), applied: value(/^aggregator_events_total\{outcome="applied"\} (\S+)$/m) };
    };
    const port = await freePort();
    const second = await startService({ name: 'aggregator-2', entry: 'aggregator/main.ts', root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test'), port, env: { ...testEnv().env, AGGREGATOR_METRICS_PORT: String(port) } });
    try {
      // Both instances are members of the run's group, each holding partitions, together all of them.
      const shares = await waitFor('both instances to hold partitions', async () => {
        const g = (await admin.describeGroups([group])).groups[0]!;
        if (g.state !== 'Stable' || g.members.length !== 2) return undefined;
        const parts = g.members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []);
        return parts.every((p) => p.length > 0) && new Set(parts.flat()).size === partitionCount ? parts : undefined;
      }, 60_000, 500);
      const firstPort = config().AGGREGATOR_METRICS_PORT;
      await waitFor('each instance to report its assignment', async () => {
        const [one, two] = [await metricsOf(firstPort), await metricsOf(port)];
        return one.assigned + two.assigned === partitionCount && one.assigned > 0 && two.assigned > 0;
      }, 30_000, 200);
      expect(shares.map((p) => p.length).sort((x, y) => x - y)).toEqual([(await metricsOf(firstPort)).assigned, (await metricsOf(port)).assigned].sort((x, y) => x - y));
      const appliedBefore = [(await metricsOf(firstPort)).applied, (await metricsOf(port)).applied];

      const amounts = new Map(sellers.map((s) => [s, [] as number[]]));
      const ids: string[] = [];
      for (let i = 0; i < 2 * sellers.length; i++) {
        const orders = [sellers[i % sellers.length]!, sellers[(i + 1) % sellers.length]!].map((sellerId, j) => ({ sellerId, quantity: 100 + i * 10 + j }));
        orders.forEach((o) => amounts.get(o.sellerId)!.push(o.quantity));
        ids.push(await checkout(orders));
      }
      await waitFinal(ids);
      for (const s of sellers) await expectBalance(s, payable(amounts.get(s)!));
      for (const s of sellers) expect(await quantityOf(s)).toBe(await postingsSum(s));
      // Both applied events of these checkouts: each seller's partition has an owner, and both own some.
      const appliedAfter = [(await metricsOf(firstPort)).applied, (await metricsOf(port)).applied];
      expect(appliedAfter[0]!).toBeGreaterThan(appliedBefore[0]!);
      expect(appliedAfter[1]!).toBeGreaterThan(appliedBefore[1]!);
    } finally {
      await stopService(second);
      await admin.disconnect();
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
