/** Stops the run's processes and removes its database, topics and Temporal Schedules. */
import { Kafka, logLevel } from 'kafkajs';
import { dlqTopicOf } from '../kafka/topics';
import { dropDatabase } from './databases';
import { stopService } from './processes';
import { parseConfig } from '../config/config';
import { connectTemporalClient } from '../temporal/client';
import { deleteSchedules } from '../temporal/schedules';
import { stackEnv } from './support';

export default async function globalTeardown(): Promise<void> {
  const services = globalThis.__payorchServices ?? [];
  await Promise.all([...services].reverse().map((s) => stopService(s)));
  const testEnv = globalThis.__payorchTestEnv;
  if (!testEnv || process.env.PAYORCH_KEEP_TEST_DATA === '1') return;
  const stack = stackEnv();
  await dropDatabase(stack.DATABASE_URL!, `payorch_${testEnv.runId}`);
  const kafkaAdmin = new Kafka({ clientId: 'payorch-test-teardown', brokers: stack.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.deleteTopics({ topics: [testEnv.env.LEDGER_TOPIC!, dlqTopicOf(testEnv.env.LEDGER_TOPIC!)] }).catch(() => undefined);
  await kafkaAdmin.disconnect();
  // The run's worker created Schedules for the run's task queue; left behind they would keep
  // starting workflows that no worker serves.
  const config = parseConfig(testEnv.env);
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  await deleteSchedules(client, config)
    .then(async () => {
      // And a payout Schedule per seller that got settled money (temporal/payout-schedules.ts).
      for await (const schedule of client.schedule.list()) {
        if (schedule.scheduleId.startsWith('payout:') && schedule.scheduleId.endsWith(`@${config.TEMPORAL_TASK_QUEUE}`)) await client.schedule.getHandle(schedule.scheduleId).delete();
      }
    })
    .finally(() => client.connection.close());
}
