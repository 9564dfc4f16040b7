/**
 * Smoke tests: each real component of the stack works from TypeScript through the library the
 * application uses.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { createDb } from '../../db/client';
import { payments } from '../../db/schema';
import { stackEnv, testConfig, uniqueId } from '../support';

describe('smoke: the real components answer', () => {
  const stack = stackEnv();

  test('Temporal dev server (installed binary): a workflow and its activity round trip', async () => {
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: stack.TEMPORAL_CLI_PATH! }, ip: '127.0.0.1' },
    });
    try {
      const taskQueue = uniqueId('smoke');
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowsPath: require.resolve('./smoke-workflow'),
        activities: { echo: async (text: string) => `activity echoed ${text}` },
      });
      const result = await worker.runUntil(
        env.client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: uniqueId('smoke-wf'), args: ['hello'] }),
      );
      expect(result).toBe('workflow saw: activity echoed hello');
    } finally {
      await env.teardown();
    }
  });

  test('Kafka: kafkajs produces and consumes a message', async () => {
    const kafka = new Kafka({ clientId: 'payorch-smoke', brokers: stack.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
    const topic = uniqueId('smoke-topic');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: uniqueId('smoke-group') });
    try {
      await producer.connect();
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) });
      });
      const value = uniqueId('payload');
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value }] });
      await expect(received).resolves.toBe(value);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  test('Postgres: drizzle queries the migrated schema', async () => {
    const config = testConfig();
    const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'smoke' });
    try {
      const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(payments).where(sql`false`);
      expect(row).toEqual({ n: 0 });
      const version = await db.execute(sql`select current_setting('server_version_num')::int as v`);
      expect(Number(version.rows[0]!.v)).toBeGreaterThanOrEqual(130000);
    } finally {
      await pool.end();
    }
  });

  test('Redis: ioredis round trip', async () => {
    const redis = new Redis(stack.REDIS_URL!, { maxRetriesPerRequest: 1 });
    try {
      const key = uniqueId('smoke');
      await redis.set(key, 'value', 'PX', 10_000);
      expect(await redis.get(key)).toBe('value');
      await redis.del(key);
    } finally {
      redis.disconnect();
    }
  });
});
