/**
 * The balance aggregator under faults, on real Kafka, Redis and Postgres. The test runs its own
 * aggregator process (aggregator/main.ts) against a Redis server of its own (which it breaks:
 * READONLY, OOM), with Postgres behind a TCP proxy (which it cuts), on a topic of its own, fed by
 * the ledger's real journal-and-publish code (activities/ledger.activities.ts) on the run's
 * database - so every event has its rows in Postgres, as in production. The truth a balance is
 * checked against is always the sum of the seller's postings in Postgres, and "caught up" means the
 * stream's applied sequence in Redis equals the stream's last sequence in Postgres.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { readFileSync } from 'node:fs';
import { createBalanceStore, type BalanceStore } from '../aggregator/balance-store';
import { createDb, type DbHandle } from '../db/client';
import { dlqTopicOf } from '../kafka/topics';
import { deltasOf, encodeStreamId } from '../ledger/balances';
import type { LedgerEntriesRecordedEvent, LedgerEntryData } from '../ledger/events';
import type { EntryType } from '../ledger/journal';
import { createTestLedger, scrape, startRedis, startTcpProxy, type TcpProxy, type TestRedis } from './aggregator-harness';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, testConfig, testEnv, uniqueId, waitFor } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Seller ids with the characters that broke the old balance keys. */
const awkwardSeller = (tag: string) => `${tag}|EUR|{x}: ü東 ${randomUUID().slice(0, 8)}`;

describe('balance aggregator: outages block and never skip, gaps stop one stream and heal from Postgres', () => {
  const config = () => testConfig();
  const run = uniqueId('aggf');
  const topic = `aggregator-faults.${run}`;
  const group = `aggregator-faults-${run}`;
  const prefix = `${run}:bal:`;
  let kafka: Kafka;
  let redis: TestRedis;
  let proxy: TcpProxy;
  let aggregator: Service;
  let aggregatorPort: number;
  let handle: DbHandle;
  let checks: BalanceStore;
  let checksRedis: Redis;
  let ledger: Awaited<ReturnType<typeof createTestLedger>>;

  const env = () => ({ ...testEnv().env, REDIS_URL: redis.url, LEDGER_TOPIC: topic, AGGREGATOR_GROUP_ID: group, BALANCE_REDIS_PREFIX: prefix });
  const metric = (name: string, labels: Record<string, string> = {}) => scrape(aggregatorPort, name, labels);

  beforeAll(async () => {
    kafka = new Kafka({ clientId: 'aggregator-faults', brokers: config().KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }, { topic: dlqTopicOf(topic), numPartitions: 1, replicationFactor: 1 }] });
    await admin.disconnect();
    redis = await startRedis(path.join(DATA_DIR, 'test-redis', run));
    const dbUrl = new URL(config().DATABASE_URL);
    proxy = await startTcpProxy(Number(dbUrl.port));
    const proxied = new URL(dbUrl);
    proxied.port = String(proxy.port);
    aggregatorPort = await freePort();
    aggregator = await startService({
      name: 'aggregator-faults',
      entry: 'aggregator/main.ts',
      root: ROOT,
      logDir: path.join(DATA_DIR, 'logs', 'test'),
      port: aggregatorPort,
      env: { ...env(), DATABASE_URL: proxied.toString(), AGGREGATOR_METRICS_PORT: String(aggregatorPort), AGGREGATOR_RETRY_BASE_MS: '100', AGGREGATOR_RETRY_CAP_MS: '1000', AGGREGATOR_HEAL_INTERVAL_MS: '300', AGGREGATOR_SNAPSHOT_INTERVAL_MS: '300' },
    });
    handle = createDb({ url: config().DATABASE_URL, poolMax: 4, applicationName: 'aggregator-faults-test' });
    checksRedis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    checks = createBalanceStore({ redis: checksRedis, db: handle.db, keyPrefix: prefix });
    ledger = await createTestLedger({ db: handle.db, brokers: config().KAFKA_BROKERS, topic, commissionBps: config().PLATFORM_COMMISSION_BPS });
  }, 120_000);

  afterAll(async () => {
    await ledger?.stop();
    if (aggregator) await stopService(aggregator);
    checksRedis?.disconnect();
    await handle?.pool.end();
    await proxy?.close();
    await redis?.stop();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic, dlqTopicOf(topic)] }).catch(() => undefined);
    await admin.disconnect();
  });

  const lastSeq = async (streamId: string) => Number((await handle.pool.query<{ s: string }>(`select coalesce(max(last_seq), 0)::text as s from ledger_streams where stream_id = $1`, [streamId])).rows[0]!.s);
  /** The truth: the sum of the seller's MERCHANT_PAYABLE postings. */
  const postingsSum = async (sellerId: string) =>
    BigInt((await handle.pool.query<{ s: string }>(`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as s from postings where account_code = $1`, [`MERCHANT_PAYABLE.${sellerId}`])).rows[0]!.s);
  /** Redis applied every sequence Postgres has, the stream flows, and its balance (Redis + snapshot, no fallback) is exact. */
  const caughtUp = async (sellerId: string) => {
    const { state, balances } = await checks.appliedBalances(sellerId);
    const [expected, last] = [await postingsSum(sellerId), await lastSeq(sellerId)];
    return state.applied === last && state.stoppedAt === null && balances.get('EUR') === expected;
  };
  const expectCaughtUp = (sellers: string[], timeoutMs = 30_000) =>
    waitFor(`streams caught up with Postgres and exact: ${sellers.join(', ')}`, async () => (await Promise.all(sellers.map(caughtUp))).every(Boolean), timeoutMs, 200);
  const commitAndPublish = async (sellerId: string, amountMinor: number) => {
    await ledger.commit(sellerId, amountMinor);
    await ledger.publish(sellerId);
  };
  const membership = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([group]);
      const g = groups[0]!;
      return { state: g.state, members: g.members.map((m) => ({ memberId: m.memberId, partitions: AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [] })) };
    } finally {
      await admin.disconnect();
    }
  };
  const dlqSize = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return (await admin.fetchTopicOffsets(dlqTopicOf(topic))).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  };

  test('Redis answering READONLY, then OOM, under a stream of events: nothing dead-lettered or skipped, the consumer keeps its membership, balances exact after', async () => {
    const sellers = [awkwardSeller('ro'), awkwardSeller('oom'), `plain-${run}`];
    let producing = true;
    let produced = 0;
    const producer = (async () => {
      while (producing && produced < 600) {
        await commitAndPublish(sellers[produced % sellers.length]!, 1_000 + produced);
        produced += 1;
        await sleep(30);
      }
    })();
    try {
      await waitFor('events applied', async () => (await metric('aggregator_events_total', { outcome: 'applied' })) >= 10, 30_000, 200);
      await waitFor('a stable group', async () => (await membership()).state === 'Stable');
      const before = await membership();
      expect(before.members).toHaveLength(1);
      const gapsBefore = await metric('aggregator_stream_gaps_detected_total');

      // A managed Redis failing over: the node we talk to becomes a replica (of an address nobody answers).
      await redis.admin.call('REPLICAOF', '127.0.0.1', String(await freePort()));
      await waitFor('the consumer blocked on READONLY', async () => (await metric('aggregator_outage_retries_total', { dependency: 'redis', reason: 'READONLY' })) > 0 && (await metric('aggregator_blocked')) === 1, 20_000, 200);
      const producedAtBlock = produced;
      // Longer than the session timeout (15 s): without heartbeats the group would drop the member.
      await sleep(18_000);
      expect(produced).toBeGreaterThan(producedAtBlock); // events kept coming during the outage
      const during = await membership();
      expect(during.state).toBe('Stable');
      expect(during.members.map((m) => m.memberId)).toEqual(before.members.map((m) => m.memberId));
      expect(during.members[0]!.partitions.length).toBe(3);
      expect(await metric('aggregator_blocked')).toBe(1);
      // The group's committed offset has not moved past the blocked message.
      const blockedAt = readFileSync(aggregator.logFile, 'utf8').split('\n').filter((l) => l.includes('"reason":"READONLY"') && l.includes('dependency unavailable')).map((l) => JSON.parse(l) as { partition: number; offset: string })[0]!;
      const admin = kafka.admin();
      await admin.connect();
      const committed = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions.find((p) => p.partition === blockedAt.partition)!;
      await admin.disconnect();
      expect(Number(committed.offset)).toBeLessThanOrEqual(Number(blockedAt.offset));
      await redis.admin.call('REPLICAOF', 'NO', 'ONE');
      await waitFor('the consumer unblocked', async () => (await metric('aggregator_blocked')) === 0, 20_000, 200);

      // Redis out of memory, with no eviction (what a full managed Redis answers).
      await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.admin.config('SET', 'maxmemory', '1');
      await waitFor('the consumer blocked on OOM', async () => (await metric('aggregator_outage_retries_total', { dependency: 'redis', reason: 'OOM' })) > 0, 20_000, 200);
      await sleep(4_000);
      await redis.admin.config('SET', 'maxmemory', '0');

      producing = false;
      await producer;
      await expectCaughtUp(sellers, 60_000);
      expect(await metric('aggregator_dlq_messages_total')).toBe(0);
      expect(await dlqSize()).toBe(0);
      // Skipping a message would show as a gap when the stream's next event arrived.
      expect(await metric('aggregator_stream_gaps_detected_total')).toBe(gapsBefore);
      expect((await membership()).members.map((m) => m.memberId)).toEqual(before.members.map((m) => m.memberId));
      // The API's read path agrees.
      for (const s of sellers) expect((await checks.readSellerBalances(s)).map((b) => b.balanceMinor)).toEqual([await postingsSum(s)]);
    } finally {
      producing = false;
      await producer;
      await redis.admin.call('REPLICAOF', 'NO', 'ONE').catch(() => undefined);
      await redis.admin.config('SET', 'maxmemory', '0').catch(() => undefined);
    }
  }, 180_000);

  test('a lost event stops its stream while Postgres is unreachable, other streams go on, and the rebuild from Postgres heals it', async () => {
    const gapped = awkwardSeller('gap');
    const others = [awkwardSeller('other'), `other-${run}`];
    for (const s of [gapped, ...others]) for (const amount of [500, 700]) await commitAndPublish(s, amount);
    await expectCaughtUp([gapped, ...others]);
    const gapsBefore = await metric('aggregator_stream_gaps_detected_total');

    await proxy.cut();
    try {
      // Sequence 3 of one stream never reaches Kafka (committed in Postgres, lost on the way).
      ledger.routeWith((stream, sequence) => (stream === gapped && sequence === 3 ? 'drop' : 'send'));
      for (const amount of [301, 303, 305]) await commitAndPublish(gapped, amount);
      for (const s of others) for (const amount of [11, 13, 17]) await commitAndPublish(s, amount);

      const stopped = await waitFor('the stream stopped at the gap', async () => {
        const state = await checks.streamState(gapped);
        return state.stoppedAt !== null && state.stoppedAt >= 4 ? state : undefined;
      });
      expect(stopped.applied).toBe(2); // nothing after the gap applied
      // The other streams flow meanwhile (their apply needs only Redis).
      await waitFor('the other streams caught up', async () => (await Promise.all(others.map(async (s) => (await checks.streamState(s)).applied === (await lastSeq(s))))).every(Boolean));
      expect(await metric('aggregator_stream_gaps_detected_total')).toBe(gapsBefore + 1);
      expect(await metric('aggregator_stream_gaps')).toBe(1);
      const line = readFileSync(aggregator.logFile, 'utf8').split('\n').find((l) => l.includes('gap in a ledger stream') && l.includes(JSON.stringify(gapped).slice(1, -1)));
      expect(JSON.parse(line!)).toMatchObject({ streamId: gapped, expected: 3, got: 4 });
      // Postgres cannot answer: the stream stays stopped and the rebuild is retried. An attempt
      // either fails on Postgres or, when a snapshot fold of this stream was cut off mid-way (its
      // Postgres write may or may not have landed), waits for that fold first ('folding').
      const unsuccessful = async () => (await metric('aggregator_stream_rebuilds_total', { outcome: 'failed' })) + (await metric('aggregator_stream_rebuilds_total', { outcome: 'folding' }));
      const before = await unsuccessful();
      await waitFor('rebuild attempts retried without success', async () => (await unsuccessful()) >= before + 2, 20_000, 200);
      expect((await checks.streamState(gapped)).applied).toBe(2);
    } finally {
      ledger.routeWith(() => 'send');
      await proxy.restore();
    }
    // Postgres is back: the healer rebuilds the stream, including the lost sequence 3.
    await expectCaughtUp([gapped, ...others]);
    expect(await metric('aggregator_stream_gaps')).toBe(0);
    expect(await postingsSum(gapped)).toBe(await checks.readSellerBalances(gapped).then((b) => b[0]!.balanceMinor));
    // It flows again.
    await commitAndPublish(gapped, 900);
    await expectCaughtUp([gapped]);
  }, 120_000);

  test('dlq:redrive re-applies what is now valid through the same in-sequence path, and says what it did', async () => {
    const redrive = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dlq-redrive.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env(), PAYORCH_ENV_FILE: '/dev/null', LOG_LEVEL: 'error' } });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const [filled, healed] = [awkwardSeller('dlq-fill'), awkwardSeller('dlq-dup')];
    for (const amount of [100, 200, 300]) await commitAndPublish(filled, amount);
    for (const amount of [100, 200]) await commitAndPublish(healed, amount);
    await expectCaughtUp([filled, healed]);

    // Dead letters the previous version made of an outage (valid events, READONLY in the headers).
    ledger.routeWith((stream, sequence) => ((stream === filled && sequence === 4) || (stream === healed && sequence === 3) ? 'dlq' : 'send'));
    const short = await postingsSum(filled);
    try {
      await commitAndPublish(filled, 444); // its last event: only in the DLQ
      await commitAndPublish(healed, 333); // in the DLQ ...
      await commitAndPublish(healed, 555); // ... but this one shows the gap, and the rebuild from Postgres covers 3
    } finally {
      ledger.routeWith(() => 'send');
    }
    await expectCaughtUp([healed]);
    const producer = kafka.producer();
    await producer.connect();
    // An event of the previous version: no sequence.
    const legacy = { eventId: randomUUID(), eventType: 'LedgerEntriesRecorded', aggregateId: filled, traceId: null, occurredAt: new Date().toISOString(), data: { sellerId: filled, entries: [] } };
    await producer.send({ topic: dlqTopicOf(topic), messages: [{ key: 'junk', value: '{"not":"an event"}' }, { key: filled, value: JSON.stringify(legacy) }] });
    await producer.disconnect();
    expect(await postingsSum(filled)).toBeGreaterThan(short);
    expect((await checks.appliedBalances(filled)).balances.get('EUR')).toBe(short);

    const dry = await redrive('--dry-run');
    expect(dry.code).toBe(0);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const line = (seller: string, seq: number, outcome: string) => new RegExp(`stream ${escape(JSON.stringify(seller))} seq ${seq} -> ${escape(outcome)}(\\s|$)`, 'm');
    expect(dry.out).toMatch(line(filled, 4, 'would-apply'));
    expect(dry.out).toMatch(line(healed, 3, 'would-be-duplicate'));
    expect(dry.out).toMatch(/-> still-invalid \(invalid event/);
    expect(dry.out).toMatch(/-> legacy-ignored/);
    expect(dry.out).toMatch(/dry run: read 4 message\(s\): 1 legacy-ignored, 1 still-invalid, 1 would-apply, 1 would-be-duplicate/);
    expect((await checks.appliedBalances(filled)).balances.get('EUR')).toBe(short); // a dry run changes nothing

    const real = await redrive();
    expect(real.code).toBe(0);
    expect(real.out).toMatch(line(filled, 4, 'applied'));
    expect(real.out).toMatch(line(healed, 3, 'duplicate'));
    expect(real.out).toMatch(/read 4 message\(s\): 1 applied, 1 duplicate, 1 legacy-ignored, 1 still-invalid/);
    expect(real.out).toMatch(/1 message\(s\) are still invalid and stay in the DLQ/);
    await expectCaughtUp([filled, healed]);

    const again = await redrive('--limit', '2');
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/read 2 message\(s\)/);
    expect(again.out).not.toMatch(/-> applied/);
    await expectCaughtUp([filled, healed]);
    expect((await redrive('--limit', 'x')).code).toBe(2);
  }, 120_000);

  describe('the store on its own (a key prefix no aggregator uses)', () => {
    let store: BalanceStore;
    let storeRedis: Redis;
    const ownPrefix = `${run}:own:`;
    beforeAll(() => {
      storeRedis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      store = createBalanceStore({ redis: storeRedis, db: handle.db, keyPrefix: ownPrefix });
    });
    afterAll(() => storeRedis.disconnect());

    /** The ApplyInput of a committed batch, built from its rows (as the ledger would publish it). */
    const inputOf = async (streamId: string, sequence: number) => {
      const rows = await handle.pool.query<{ entry_id: string; entry_type: string; payment_order_id: string; payment_id: string; posting_id: string; account_code: string; direction: 'DEBIT' | 'CREDIT'; amount_minor: string; currency: string }>(
        `select je.id as entry_id, je.entry_type, je.payment_order_id, je.payment_id, p.id::text as posting_id, p.account_code, p.direction, p.amount_minor::text, p.currency
           from ledger_batches b join journal_entries je on je.batch_id = b.id join postings p on p.journal_entry_id = je.id
          where b.stream_id = $1 and b.seq = $2 order by p.id`,
        [streamId, sequence],
      );
      const entries = new Map<string, LedgerEntryData>();
      for (const r of rows.rows) {
        const e = entries.get(r.entry_id) ?? { journalEntryId: r.entry_id, entryType: r.entry_type as EntryType, paymentOrderId: r.payment_order_id, paymentId: r.payment_id, postings: [] };
        e.postings.push({ postingId: r.posting_id, accountCode: r.account_code, direction: r.direction, amountMinor: r.amount_minor, currency: r.currency });
        entries.set(r.entry_id, e);
      }
      const event: LedgerEntriesRecordedEvent = { eventId: randomUUID(), eventType: 'LedgerEntriesRecorded', aggregateId: streamId, sequence, traceId: null, occurredAt: new Date().toISOString(), data: { sellerId: streamId, entries: [...entries.values()] } };
      return { streamId, sequence, occurredAt: event.occurredAt, deltas: deltasOf(event) };
    };
    const exact = async (streamId: string) => {
      const { state, balances } = await store.appliedBalances(streamId);
      return { applied: state.applied, stopped: state.stoppedAt !== null, balance: balances.get('EUR'), truth: await postingsSum(streamId) };
    };

    test('with Redis unreachable, a merchant\'s balance is read from Postgres', async () => {
      const s = awkwardSeller('no-redis');
      await ledger.commit(s, 1_234);
      await ledger.commit(s, 4_321);
      // Configured as the API configures its client: no offline queue, so a command fails at once.
      const dead = new Redis({ host: '127.0.0.1', port: await freePort(), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
      dead.on('error', () => undefined);
      try {
        const offline = createBalanceStore({ redis: dead, db: handle.db, keyPrefix: ownPrefix });
        expect((await offline.readSellerBalances(s)).map((b) => [b.accountCode, b.currency, b.balanceMinor])).toEqual([[`MERCHANT_PAYABLE.${s}`, 'EUR', await postingsSum(s)]]);
      } finally {
        dead.disconnect();
      }
    });

    test('a rebuild prepared before another rebuild and a fold cannot overwrite them (fenced)', async () => {
      const s = awkwardSeller('fence');
      for (const amount of [1_000, 2_000, 3_000, 4_000]) await ledger.commit(s, amount);
      // Redis does not know the stream and sees sequence 2 first: the stream stops.
      expect((await store.apply(await inputOf(s, 2))).outcome).toBe('gap');
      const slow = await store.prepareStreamRebuild(s);
      const fast = await store.prepareStreamRebuild(s);
      if (slow === 'not-stopped' || slow === 'folding' || fast === 'not-stopped' || fast === 'folding') throw new Error('expected rebuild plans');
      expect(await store.commitStreamRebuild(fast)).toBe('rebuilt');
      expect((await store.foldDirty()).folded).toBeGreaterThan(0);
      // The slow rebuild read Postgres before the fold: written now, Redis would build on the old snapshot.
      expect(await store.commitStreamRebuild(slow)).toBe('superseded');
      await ledger.commit(s, 5_000);
      expect((await store.apply(await inputOf(s, 5))).outcome).toBe('applied');
      expect(await exact(s)).toEqual({ applied: 5, stopped: false, balance: await postingsSum(s), truth: await postingsSum(s) });
    });

    test('after Redis rolls back under a fold, reads never double count, the fold is refused and the stream is rebuilt', async () => {
      const s = awkwardSeller('rollback');
      await ledger.commit(s, 1_000);
      await ledger.commit(s, 2_000);
      for (const seq of [1, 2]) expect((await store.apply(await inputOf(s, seq))).outcome).toBe('applied');
      // Take a copy of the stream's keys, fold, then put the copy back: Redis "restarted from an older snapshot".
      const keys = (await storeRedis.keys(`${ownPrefix}*`)).filter((k) => k.includes(encodeStreamId(s).slice(1, -1)));
      const saved = await Promise.all(keys.map(async (k) => [k, await storeRedis.dumpBuffer(k)] as const));
      expect((await store.foldDirty()).folded).toBeGreaterThan(0);
      for (const [k, dump] of saved) await storeRedis.restore(k, 0, dump, 'REPLACE');
      await ledger.commit(s, 3_000);
      expect((await store.apply(await inputOf(s, 3))).outcome).toBe('applied');
      // Redis builds on posting 0, the snapshot holds postings 1-2: the two disagree, and the read says so ...
      expect((await exact(s)).balance).toBeNull();
      // ... while the merchant's read falls back to the postings, exact.
      expect((await store.readSellerBalances(s)).map((b) => b.balanceMinor)).toEqual([await postingsSum(s)]);
      const { conflicts } = await store.foldDirty();
      expect(conflicts.length).toBeGreaterThan(0);
      expect((await store.streamState(s)).stoppedAt).not.toBeNull();
      expect(await store.healStream(s)).toBe('rebuilt');
      expect(await exact(s)).toEqual({ applied: 3, stopped: false, balance: await postingsSum(s), truth: await postingsSum(s) });
      expect((await store.foldDirty()).conflicts).toEqual([]);
      expect(await exact(s)).toEqual({ applied: 3, stopped: false, balance: await postingsSum(s), truth: await postingsSum(s) });
    });
  });
});
