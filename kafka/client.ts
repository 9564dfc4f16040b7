/**
 * Kafka clients (kafkajs). The producer waits for acks from all in-sync replicas and connects
 * lazily: a worker starts even while Kafka is down, and publishing activities fail (and are
 * retried by Temporal) until it is back.
 *
 * It is deliberately not kafkajs's idempotent producer: that one allows a single request in
 * flight per producer, which serialised every seller's publish in the worker behind one another.
 * Per-seller order does not need it (a seller's ledger workflow publishes one batch at a time and
 * waits for the ack), and duplicates from a producer retry are already handled downstream
 * (deterministic event and entry ids, watermarks).
 */
import { Kafka, logLevel, type Producer, type ProducerRecord, type RecordMetadata } from 'kafkajs';
import { applyKafkaRequestQueueIdleFix } from './request-queue-idle-fix';

export function createKafka(options: { brokers: string[]; clientId: string }): Kafka {
  applyKafkaRequestQueueIdleFix(); // an idle connection would otherwise spin (request-queue-idle-fix.ts)
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.ERROR,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 5_000 },
  });
}

export type LazyProducer = Pick<Producer, 'send'> & { disconnect: () => Promise<void> };

export function createLazyProducer(kafka: Kafka): LazyProducer {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  let connecting: Promise<void> | undefined;
  const ensure = () => {
    connecting ??= producer.connect().catch((err: unknown) => {
      connecting = undefined; // try again on the next send
      throw err;
    });
    return connecting;
  };
  return {
    async send(record: ProducerRecord): Promise<RecordMetadata[]> {
      await ensure();
      return producer.send(record);
    },
    async disconnect() {
      if (connecting) await producer.disconnect().catch(() => undefined);
    },
  };
}
