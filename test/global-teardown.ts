/** Stops the run's processes and removes its database and topics. */
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { dlqTopicOf } from '../kafka/topics';
import { stopService } from './processes';
import { stackEnv } from './support';

export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__payorchServices ?? [];
  await Promise.all([...services].reverse().map((s) => stopService(s)));
  const testEnv = globalThis.__payorchTestEnv;
  if (!testEnv || process.env.PAYORCH_KEEP_TEST_DATA === '1') return;
  const stack = stackEnv();
  const admin = new Client({ connectionString: stack.DATABASE_URL });
  await admin.connect();
  await admin.query(`drop database if exists payorch_${testEnv.runId} with (force)`);
  await admin.end();
  const kafkaAdmin = new Kafka({ clientId: 'payorch-test-teardown', brokers: stack.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.deleteTopics({ topics: [testEnv.env.LEDGER_TOPIC!, dlqTopicOf(testEnv.env.LEDGER_TOPIC!)] }).catch(() => undefined);
  await kafkaAdmin.disconnect();
}
