/**
 * The balance aggregator's Kafka consumer (kafkajs, one consumer group; instances share the work
 * by partition). Each message is validated and applied to Redis atomically; its offset is
 * resolved only afterwards, so a crash re-delivers it and the watermarks make the re-delivery a
 * no-op (at-least-once in, exactly-once effect).
 *
 * Failures: a message that is not a valid LedgerEntriesRecorded event, or that Redis rejects
 * after AGGREGATOR_APPLY_ATTEMPTS_MAX attempts, goes to the dead-letter topic with the error in its
 * headers, and the consumer moves on. An infrastructure outage (Redis or Postgres unreachable,
 * a rebuild that cannot run) is not the message's fault: the batch fails, kafkajs backs off and redelivers from the last
 * committed offset, and nothing goes to the DLQ.
 */
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { ReplyError } from 'ioredis';
import { Counter } from 'prom-client';
import { dlqTopicOf } from '../kafka/topics';
import { deltasOf, parseLedgerEvent, PoisonMessageError } from '../ledger/balances';
import type { Logger } from '../observability/logger';
import type { BalanceStore } from './balance-store';

export const metrics = {
  events: new Counter({ name: 'aggregator_events_total', help: 'LedgerEntriesRecorded events processed', labelNames: ['outcome'] as const }),
  postings: new Counter({ name: 'aggregator_postings_applied_total', help: 'Postings applied to balances (duplicates excluded)' }),
  dlq: new Counter({ name: 'aggregator_dlq_messages_total', help: 'Messages sent to the dead-letter topic', labelNames: ['reason'] as const }),
};

const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection is closed|connect|Stream isn't writeable|MaxRetriesPerRequest|Connection terminated/i;

// Expose every reason from the start (as 0), so dashboards and alerts see the series before the
// first dead letter.
for (const reason of ['invalid', 'apply-failed']) metrics.dlq.inc({ reason }, 0);

export type AggregatorOptions = { topic: string; groupId: string; applyAttemptsMax: number };

export function createAggregatorConsumer(deps: { kafka: Kafka; store: BalanceStore; log: Logger; options: AggregatorOptions }) {
  const { kafka, store, log, options } = deps;
  const consumer: Consumer = kafka.consumer({ groupId: options.groupId, sessionTimeout: 15_000, heartbeatInterval: 3_000, maxWaitTimeInMs: 100, retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 } });
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const dlqTopic = dlqTopicOf(options.topic);

  async function toDlq(message: KafkaMessage, partition: number, reason: string, error: Error): Promise<void> {
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
    metrics.dlq.inc({ reason });
    log.warn({ partition, offset: message.offset, reason, err: error }, 'message sent to the dead-letter topic');
  }

  async function handle(message: KafkaMessage, partition: number): Promise<void> {
    let event;
    try {
      event = parseLedgerEvent(message.value);
    } catch (err) {
      if (!(err instanceof PoisonMessageError)) throw err;
      metrics.events.inc({ outcome: 'dead-lettered' });
      return toDlq(message, partition, 'invalid', err);
    }
    const deltas = deltasOf(event);
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await store.apply(deltas, event.aggregateId, event.occurredAt);
        metrics.postings.inc(applied);
        metrics.events.inc({ outcome: applied > 0 ? 'applied' : 'duplicate' });
        return;
      } catch (err) {
        // Only Redis rejecting this message's script (e.g. an amount overflowing 64 bits) is the
        // message's fault. Anything else - Redis or Postgres unreachable, a rebuild that failed -
        // would fail for every message: fail the batch so kafkajs retries it later, and send
        // nothing to the DLQ.
        if (!(err instanceof ReplyError) || CONNECTION_ERROR.test((err as Error).message)) throw err;
        if (attempt >= options.applyAttemptsMax) {
          metrics.events.inc({ outcome: 'dead-lettered' });
          return toDlq(message, partition, 'apply-failed', err as Error);
        }
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2_000)));
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
            await handle(message, payload.batch.partition);
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
