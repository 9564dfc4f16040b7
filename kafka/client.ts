/**
 * Kafka clients (kafkajs). The producer is idempotent with acks from all in-sync replicas, and
 * connects lazily: a worker starts even while Kafka is down, and publishing activities fail (and
 * are retried by Temporal) until it is back.
 */
import { Kafka, logLevel, type Producer, type ProducerRecord, type RecordMetadata } from 'kafkajs';

export function createKafka(options: { brokers: string[]; clientId: string }): Kafka {
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
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
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
