/**
 * DLQ re-drive: reads the ledger topic's dead-letter topic from its beginning up to where it ended
 * when the run started, and re-applies every message that is now valid through the aggregator's
 * own apply path (applier.ts) - so the in-sequence rules hold: a message that is now a duplicate
 * is dropped, one that is the stream's next sequence is applied (it fills the gap it left), one
 * above it stops the stream and rebuilds it from Postgres. Messages still invalid are reported
 * and stay where they are. Kafka cannot delete single messages, so the DLQ is not emptied; a
 * second run finds everything already applied (duplicates) - re-driving is idempotent.
 *
 * The reading consumer uses a group of its own (deleted at the end) and commits nothing, so runs
 * never interfere with each other or with the aggregator's group. An outage of Redis or Postgres
 * is retried with backoff until `timeoutMs`, then the run stops with an error (exit 1); nothing is
 * skipped.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { equalJitterDelayMs } from '../domain/backoff';
import { dlqTopicOf } from '../kafka/topics';
import { parseLedgerMessage } from '../ledger/balances';
import type { Applier } from './applier';
import type { BalanceStore } from './balance-store';
import { classifyFailure } from './errors';

export const REDRIVE_OUTCOMES = ['applied', 'applied-after-rebuild', 'duplicate', 'stopped', 'legacy-ignored', 'still-invalid', 'would-apply', 'would-be-duplicate', 'would-rebuild'] as const;
export type RedriveOutcome = (typeof REDRIVE_OUTCOMES)[number];

export type RedriveItem = { partition: number; offset: string; streamId: string | null; sequence: number | null; outcome: RedriveOutcome; detail?: string };
export type RedriveSummary = { read: number; counts: Record<RedriveOutcome, number>; complete: boolean };
export type RedriveOptions = { topic: string; dryRun: boolean; limit: number; timeoutMs: number; retryBaseMs: number; retryCapMs: number; groupPrefix: string };

export async function redriveDlq(
  deps: { kafka: Kafka; applier: Applier; store: BalanceStore },
  options: RedriveOptions,
  report: (item: RedriveItem) => void,
): Promise<RedriveSummary> {
  const { kafka, applier, store } = deps;
  const topic = dlqTopicOf(options.topic);
  const counts = Object.fromEntries(REDRIVE_OUTCOMES.map((o) => [o, 0])) as Record<RedriveOutcome, number>;
  let read = 0;
  const deadline = Date.now() + options.timeoutMs;

  const admin = kafka.admin();
  await admin.connect();
  // Where each partition ends now: messages dead-lettered after the start wait for the next run.
  const ends = new Map((await admin.fetchTopicOffsets(topic)).filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, BigInt(p.high)]));
  if (ends.size === 0 || options.limit === 0) {
    await admin.disconnect();
    return { read, counts, complete: true };
  }

  async function predict(value: Buffer | null): Promise<Omit<RedriveItem, 'partition' | 'offset'>> {
    const message = parseLedgerMessage(value);
    if (message.kind === 'legacy') return { streamId: message.streamId, sequence: null, outcome: 'legacy-ignored' };
    const { aggregateId: streamId, sequence } = message.event;
    const state = await store.streamState(streamId);
    const next = state.known ? state.applied + 1 : 1;
    const outcome: RedriveOutcome = state.known && sequence <= state.applied ? 'would-be-duplicate' : sequence === next ? 'would-apply' : 'would-rebuild';
    return { streamId, sequence, outcome };
  }

  async function apply(value: Buffer | null): Promise<Omit<RedriveItem, 'partition' | 'offset'>> {
    const done = await applier.applyMessage(value);
    const outcome: RedriveOutcome = done.outcome === 'applied' && done.rebuilt ? 'applied-after-rebuild' : done.outcome;
    return { streamId: done.streamId, sequence: done.sequence, outcome };
  }

  async function handle(message: KafkaMessage, partition: number): Promise<RedriveItem> {
    for (let attempt = 1; ; attempt++) {
      try {
        return { partition, offset: message.offset, ...(options.dryRun ? await predict(message.value) : await apply(message.value)) };
      } catch (err) {
        const failure = classifyFailure(err);
        if (failure.kind === 'poison') return { partition, offset: message.offset, streamId: message.key?.toString() ?? null, sequence: null, outcome: 'still-invalid', detail: failure.error.message };
        const wait = equalJitterDelayMs(attempt, { baseMs: options.retryBaseMs, capMs: options.retryCapMs }, Math.random);
        if (Date.now() + wait > deadline) throw new Error(`gave up after ${attempt} attempts at ${topic} partition ${partition} offset ${message.offset}: ${failure.dependency} unavailable (${failure.reason})`, { cause: err });
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  const groupId = `${options.groupPrefix}-dlq-redrive-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 200 });
  let settle!: (error?: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (error?: Error) => (error === undefined ? resolve() : reject(error));
  });
  const timer = setTimeout(() => settle(new Error(`the DLQ was not read to its end within ${options.timeoutMs} ms`)), options.timeoutMs);
  let done = false;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const end = ends.get(batch.partition);
        for (const message of batch.messages) {
          if (done || !payload.isRunning()) return;
          if (end === undefined || BigInt(message.offset) >= end) break;
          try {
            const item = await handle(message, batch.partition);
            read += 1;
            counts[item.outcome] += 1;
            report(item);
          } catch (err) {
            done = true;
            settle(err instanceof Error ? err : new Error('re-drive failed', { cause: err }));
            return;
          }
          if (BigInt(message.offset) + 1n >= end) ends.delete(batch.partition);
          if (ends.size === 0 || read >= options.limit) {
            done = true;
            settle();
            return;
          }
          await payload.heartbeat();
        }
      },
    });
    await finished;
    return { read, counts, complete: ends.size === 0 };
  } finally {
    done = true;
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
