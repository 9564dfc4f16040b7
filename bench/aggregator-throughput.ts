/**
 * Balance aggregator throughput benchmark (not a test): how many postings per second one
 * aggregator instance applies. It fills a fresh topic of its own with synthetic, valid
 * LedgerEntriesRecorded events (CAPTURE entries of 5 postings, over N seller streams), then starts
 * the real consumer and store (Redis Lua apply, same code as the aggregator process) on it and
 * times the drain from the first applied posting to the last. Each stream's events carry the
 * sequence 1, 2, 3, ... (as the ledger's do) and are applied strictly in that order. Applies are
 * checked: every stream's merchant balance, read through the store, equals the sum generated for
 * it, and no stream stopped at a gap.
 *
 *   scripts/stack up && npm run -s bench:aggregator -- [--events 20000] [--streams 1000]
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { createKafka } from '../kafka/client';
import { dlqTopicOf } from '../kafka/topics';
import type { LedgerEntriesRecordedEvent } from '../ledger/events';
import { createLogger } from '../observability/logger';
import { createApplier } from '../aggregator/applier';
import { createBalanceStore } from '../aggregator/balance-store';
import { createAggregatorConsumer } from '../aggregator/consumer';
import { metrics } from '../aggregator/metrics';
import { merchantPayable } from '../ledger/accounts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' }, streams: { type: 'string', default: '1000' } } });
  const eventCount = Number(values.events);
  const streamCount = Number(values.streams);
  if (!(eventCount >= 1 && eventCount <= 1_000_000) || !(streamCount >= 1 && streamCount <= 100_000)) {
    console.error('bench: --events 1..1000000, --streams 1..100000');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const runId = Date.now().toString(36);
  const topic = `bench.aggregator.${runId}`;
  const prefix = `bench-${runId}:bal:`;
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'bench-aggregator' });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 12, replicationFactor: 1 }, { topic: dlqTopicOf(topic), numPartitions: 1, replicationFactor: 1 }] });

  // Posting ids grow per stream, as the ledger's do.
  let postingId = 1n;
  const expected = new Map<string, bigint>();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const batch: Array<{ key: string; value: string }> = [];
  const tProduce = performance.now();
  for (let i = 0; i < eventCount; i++) {
    const sellerId = `bench-${runId}-${i % streamCount}`;
    const amount = 1_000n + BigInt(i % 9_000);
    const commission = amount / 40n;
    const id = () => (postingId++).toString();
    const event: LedgerEntriesRecordedEvent = {
      eventId: `bench/${runId}/${i}`,
      eventType: 'LedgerEntriesRecorded',
      aggregateId: sellerId,
      sequence: Math.floor(i / streamCount) + 1,
      traceId: null,
      occurredAt: new Date().toISOString(),
      data: {
        sellerId,
        entries: [{
          journalEntryId: `CAPTURE:${randomUUID()}`,
          entryType: 'CAPTURE',
          paymentOrderId: randomUUID(),
          paymentId: randomUUID(),
          postings: [
            { postingId: id(), accountCode: 'AUTH_LIABILITY', direction: 'DEBIT', amountMinor: amount.toString(), currency: 'EUR' },
            { postingId: id(), accountCode: 'AUTH_RECEIVABLE', direction: 'CREDIT', amountMinor: amount.toString(), currency: 'EUR' },
            { postingId: id(), accountCode: 'PSP_RECEIVABLES', direction: 'DEBIT', amountMinor: amount.toString(), currency: 'EUR' },
            { postingId: id(), accountCode: `MERCHANT_PAYABLE.${sellerId}`, direction: 'CREDIT', amountMinor: (amount - commission).toString(), currency: 'EUR' },
            { postingId: id(), accountCode: 'PLATFORM_COMMISSION_REVENUE', direction: 'CREDIT', amountMinor: commission.toString(), currency: 'EUR' },
          ],
        }],
      },
    };
    expected.set(sellerId, (expected.get(sellerId) ?? 0n) + amount - commission);
    batch.push({ key: sellerId, value: JSON.stringify(event) });
    if (batch.length === 1_000 || i === eventCount - 1) {
      await producer.send({ topic, acks: -1, messages: batch.splice(0) });
    }
  }
  await producer.disconnect();
  const postingsTotal = eventCount * 5;
  console.log(`produced ${eventCount} events (${postingsTotal} postings, ${streamCount} streams) to ${topic} in ${Math.round(performance.now() - tProduce)} ms`);

  const redis = new Redis(config.REDIS_URL);
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'bench-aggregator' });
  const store = createBalanceStore({ redis, db, keyPrefix: prefix });
  const log = createLogger({ name: 'bench-aggregator', level: 'warn' });
  const applier = createApplier({ store, log });
  const consumer = createAggregatorConsumer({ kafka, applier, log, options: { topic, groupId: `bench-${runId}`, retryBaseMs: config.AGGREGATOR_RETRY_BASE_MS, retryCapMs: config.AGGREGATOR_RETRY_CAP_MS } });
  const applied = async () => (await metrics.postings.get()).values[0]?.value ?? 0;
  const base = await applied();
  await consumer.start();
  let tFirst = 0;
  const deadline = Date.now() + 300_000;
  for (;;) {
    const n = (await applied()) - base;
    if (n > 0 && tFirst === 0) tFirst = performance.now();
    if (n >= postingsTotal) break;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${postingsTotal} postings applied after 300 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const tDone = performance.now();
  await consumer.stop();

  // Check every stream's merchant balance, and that no stream stopped.
  let mismatches = 0;
  for (const [sellerId, sum] of expected) {
    const [balance] = await store.readSellerBalances(sellerId);
    if (balance?.accountCode !== merchantPayable(sellerId) || balance.balanceMinor !== sum) mismatches += 1;
  }
  const stopped = await store.stoppedCount();
  if (stopped > 0) console.log(`${stopped} streams stopped at a gap`);
  const seconds = (tDone - tFirst) / 1_000;
  const perS = Math.round(postingsTotal / seconds);
  console.log(`applied ${postingsTotal} postings in ${Math.round(seconds * 1_000)} ms: ${perS} postings/s (${Math.round(eventCount / seconds)} events/s); ${mismatches} of ${expected.size} stream balances wrong`);

  // Clean up the bench's own topic and keys.
  await admin.deleteTopics({ topics: [topic, dlqTopicOf(topic)] }).catch(() => undefined);
  await admin.disconnect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  await pool.end();

  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `aggregator-throughput-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), events: eventCount, postings: postingsTotal, streams: streamCount, drainMs: Math.round(seconds * 1_000), postingsPerS: perS, mismatches }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (mismatches > 0 || stopped > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
