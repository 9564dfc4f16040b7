/**
 * The balance aggregator's Kafka consumer (kafkajs, one consumer group; instances share the work
 * by partition). Messages are applied one at a time, in partition order (aggregator/applier.ts);
 * an offset is resolved only after its message is done, and kafkajs commits only resolved
 * offsets, so a crash re-delivers the message and its sequence makes the re-delivery a no-op
 * (at-least-once in, exactly-once effect).
 *
 * Failures (classified in one place, aggregator/errors.ts):
 * - A message that fails validation goes to the dead-letter topic with the error in its headers,
 *   and the consumer moves on. Nothing else is ever dead-lettered.
 * - Anything else - Redis answering READONLY/OOM/LOADING/..., Redis or Postgres unreachable, Kafka
 *   refusing the dead letter - is an outage: the message is retried in place with capped
 *   exponential backoff (equal jitter), counted (`aggregator_outage_retries_total`,
 *   `aggregator_blocked`) and logged, until it succeeds. The consumer does not throw to kafkajs
 *   (that would stop every partition's fetcher, and after kafkajs's own retries, crash and rejoin
 *   the group): it waits inside eachBatch and calls `heartbeat()` at least every second (kafkajs
 *   sends one per heartbeat interval), so it keeps its group membership however long the outage.
 *   If the group rebalances meanwhile, `heartbeat()` throws, the batch ends with the message
 *   unresolved, and whoever gets the partition starts from it. On shutdown the wait ends and the
 *   message is left unresolved, for the next owner.
 *
 * A stopped stream (a gap) does not block its partition: it is recorded in Redis and rebuilt from
 * Postgres (see applier.ts), so other sellers' events on the same partition keep flowing.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { equalJitterDelayMs } from '../domain/backoff';
import { dlqTopicOf } from '../kafka/topics';
import type { PoisonMessageError } from '../ledger/balances';
import type { Logger } from '../observability/logger';
import type { Applier } from './applier';
import { classifyFailure } from './errors';
import { metrics } from './metrics';

export type AggregatorOptions = { topic: string; groupId: string; retryBaseMs: number; retryCapMs: number };

/** How often a blocked consumer wakes to heartbeat and to check for shutdown or a rebalance. */
const WAKE_MS = 1_000;
/** A blocked message is logged on its first failure, then at most this often. */
const BLOCKED_LOG_EVERY_MS = 30_000;

export function createAggregatorConsumer(deps: { kafka: Kafka; applier: Applier; log: Logger; options: AggregatorOptions }) {
  const { kafka, applier, log, options } = deps;
  const consumer: Consumer = kafka.consumer({ groupId: options.groupId, sessionTimeout: 15_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 100, retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 } });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const dlqTopic = dlqTopicOf(options.topic);
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    const partitions = event.payload.memberAssignment[options.topic] ?? [];
    metrics.assignedPartitions.set(partitions.length);
    log.info({ memberId: event.payload.memberId, partitions }, 'joined the consumer group');
  });

  async function toDlq(message: KafkaMessage, partition: number, error: PoisonMessageError): Promise<void> {
    await producer.send({
      topic: dlqTopic,
      acks: -1,
      messages: [{
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          'x-error-type': error.name,
          'x-error-message': error.message.slice(0, 1_000),
          'x-original-topic': options.topic,
          'x-original-partition': String(partition),
          'x-original-offset': message.offset,
          'x-failed-at': new Date().toISOString(),
        },
      }],
    });
    metrics.dlq.inc({ reason: 'invalid' });
    metrics.events.inc({ outcome: 'dead-lettered' });
    log.warn({ partition, offset: message.offset, err: error }, 'message sent to the dead-letter topic');
  }

  async function handle(message: KafkaMessage, partition: number): Promise<void> {
    try {
      await applier.applyMessage(message.value);
    } catch (err) {
      const failure = classifyFailure(err);
      if (failure.kind !== 'poison') throw err;
      await toDlq(message, partition, failure.error);
    }
  }

  /** Waits `ms`, heartbeating; false if the consumer is stopping or the partition was taken away meanwhile. */
  async function waitAlive(ms: number, payload: EachBatchPayload): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      if (!payload.isRunning() || payload.isStale()) return false;
      await payload.heartbeat(); // throws on a rebalance: the batch ends, the message stays unresolved
      const left = until - Date.now();
      if (left <= 0) return true;
      await new Promise((r) => setTimeout(r, Math.min(left, WAKE_MS)));
    }
  }

  /** Handles one message, retrying outages until it is done; false if it must be left unresolved. */
  async function handleUntilDone(message: KafkaMessage, payload: EachBatchPayload): Promise<boolean> {
    const partition = payload.batch.partition;
    let blockedSince = 0;
    let loggedAt = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await handle(message, partition);
        if (blockedSince > 0) {
          metrics.blocked.set(0);
          log.info({ partition, offset: message.offset, attempts: attempt, blockedMs: Date.now() - blockedSince }, 'outage over: message applied');
        }
        return true;
      } catch (err) {
        const failure = classifyFailure(err);
        const dependency = failure.kind === 'outage' ? failure.dependency : 'unknown';
        const reason = failure.kind === 'outage' ? failure.reason : 'other';
        metrics.outageRetries.inc({ dependency, reason });
        metrics.blocked.set(1);
        const now = Date.now();
        if (blockedSince === 0) blockedSince = now;
        if (now - loggedAt >= BLOCKED_LOG_EVERY_MS) {
          loggedAt = now;
          const fields = { partition, offset: message.offset, attempt, dependency, reason, blockedMs: now - blockedSince, err };
          if (dependency === 'unknown') log.error(fields, 'unexpected error applying a message; retrying it (never skipped)');
          else log.warn(fields, 'dependency unavailable; retrying the message (never skipped, never dead-lettered)');
        }
        if (!(await waitAlive(equalJitterDelayMs(attempt, { baseMs: options.retryBaseMs, capMs: options.retryCapMs }, Math.random), payload))) {
          metrics.blocked.set(0);
          return false;
        }
      }
    }
  }

  return {
    async start(): Promise<void> {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topic: options.topic, fromBeginning: true });
      await consumer.run({
        autoCommitInterval: 1_000,
        eachBatchAutoResolve: false,
        eachBatch: async (payload) => {
          for (const message of payload.batch.messages) {
            if (!payload.isRunning() || payload.isStale()) break;
            if (!(await handleUntilDone(message, payload))) break;
            payload.resolveOffset(message.offset);
            await payload.heartbeat();
          }
        },
      });
    },
    async stop(): Promise<void> {
      await consumer.disconnect();
      await producer.disconnect();
    },
    /** Total lag of this group on the topic, for readiness and metrics. */
    async lag(): Promise<number> {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(options.topic), admin.fetchOffsets({ groupId: options.groupId, topics: [options.topic] })]);
        const committedBy = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
        return offsets.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Math.max(0, committedBy.get(p.partition) ?? 0)), 0);
      } finally {
        await admin.disconnect();
      }
    },
  };
}
