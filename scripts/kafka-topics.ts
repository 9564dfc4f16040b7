/**
 * Creates the project's topics (idempotent). Used by scripts/stack after Kafka starts; it retries
 * for a bounded time because a freshly started KRaft broker needs a moment to elect itself.
 */
import { Kafka, logLevel } from 'kafkajs';
import { projectTopics } from '../kafka/topics';

async function main(): Promise<void> {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const kafka = new Kafka({ clientId: 'payorch-stack', brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  const admin = kafka.admin();
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = projectTopics(process.env.LEDGER_TOPIC).filter((t) => !existing.has(t.topic));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions, replicationFactor: 1 })),
        });
      }
      console.log(`kafka topics: ${missing.length === 0 ? 'all present' : `created ${missing.map((t) => t.topic).join(', ')}`}`);
      await admin.disconnect();
      return;
    } catch (err) {
      await admin.disconnect().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

main().catch((err: unknown) => {
  console.error(`kafka topics: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
