/**
 * Integration test run setup. The stack's infrastructure (scripts/stack up) must be running; this
 * gives the run its own isolated slice of it - a fresh database with the migrations applied, its
 * own Kafka topics, its own Temporal task queue - and starts the run's PSP simulator, worker and
 * API as real processes built from the current code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { dlqTopicOf } from '../kafka/topics';
import { createMigratedDatabase } from './databases';
import { freePort, startService, type Service } from './processes';
import { DATA_DIR, ROOT, TEST_ENV_FILE, stackEnv, type TestEnv } from './support';

declare global {
  var __payorchServices: Service[] | undefined;
  var __payorchTestEnv: TestEnv | undefined;
}

export default async function globalSetup(): Promise<void> {
  const stack = stackEnv();
  const runId = `t${Date.now().toString(36)}${process.pid.toString(36)}`;
  const database = `payorch_${runId}`;

  const dbUrl = await createMigratedDatabase(stack.DATABASE_URL!, database);

  const ledgerTopic = `ledger_entries_recorded_topic.${runId}`;
  const kafka = new Kafka({ clientId: 'payorch-test-setup', brokers: stack.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: ledgerTopic, numPartitions: 6, replicationFactor: 1 },
      { topic: dlqTopicOf(ledgerTopic), numPartitions: 1, replicationFactor: 1 },
    ],
  });
  await kafkaAdmin.disconnect();

  const [pspPort, apiPort, workerPort, aggregatorPort, sdkMetricsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const env: Record<string, string> = {
    ...stack,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    PAYORCH_ENV_FILE: '/dev/null',
    DATABASE_URL: dbUrl,
    TEMPORAL_TASK_QUEUE: `payments-${runId}`,
    LEDGER_TOPIC: ledgerTopic,
    PSP_PORT: String(pspPort),
    PSP_BASE_URL: `http://127.0.0.1:${pspPort}`,
    PSP_SCENARIO: 'BEST_PSP_EVER',
    API_PORT: String(apiPort),
    API_BASE_URL: `http://127.0.0.1:${apiPort}`,
    WORKER_METRICS_PORT: String(workerPort),
    WORKER_SDK_METRICS_PORT: String(sdkMetricsPort),
    AGGREGATOR_METRICS_PORT: String(aggregatorPort),
    AGGREGATOR_SNAPSHOT_INTERVAL_MS: '500',
    CAPTURE_BACKOFF_BASE_MS: '20',
    CAPTURE_BACKOFF_CAP_MS: '200',
    OUTBOX_RELAY_INTERVAL_MS: '250',
    OUTBOX_RELAY_MIN_AGE_MS: '500',
    LEDGER_BATCH_MAX_WAIT_MS: '100',
    AGGREGATOR_GROUP_ID: `balance-aggregator-${runId}`,
    BALANCE_REDIS_PREFIX: `payorch-${runId}:bal:`,
    PLATFORM_COMMISSION_BPS: '250',
    RATE_LIMIT_REDIS_PREFIX: `payorch-${runId}:rl:`,
    IDEMPOTENCY_PURGE_BATCH_SIZE: '50',
    IDEMPOTENCY_PURGE_BATCHES_MAX: '10',
    // Money out with short lags: captures settle 2 s after, returned payouts come back after 3 s.
    PSP_SETTLEMENT_LAG_S: '2',
    PSP_PAYOUT_RETURN_DELAY_S: '3',
    PAYOUT_RETURN_POLL_S: '1',
    PAYOUT_RETURN_WATCH_S: '10',
    PAYOUT_MIN_MINOR: '1',
    // Webhooks: short backoffs so retries happen within a test; the relay fans out every 100 ms.
    WEBHOOK_BACKOFF_BASE_MS: '50',
    WEBHOOK_BACKOFF_CAP_MS: '200',
    WEBHOOK_RELAY_INTERVAL_MS: '100',
    WEBHOOK_SWEEP_MIN_AGE_MS: '2000',
    WEBHOOK_TIMEOUT_MS: '2000',
  };
  delete env.PSP_STATE_FILE;

  const logDir = path.join(DATA_DIR, 'logs', 'test');
  const common = { root: ROOT, logDir };
  const services: Service[] = [];
  globalThis.__payorchServices = services;
  services.push(await startService({ ...common, name: 'psp', entry: 'psp/simulator.main.ts', env, port: pspPort }));
  services.push(await startService({ ...common, name: 'worker', entry: 'temporal/worker.main.ts', env, port: workerPort }));
  services.push(await startService({ ...common, name: 'api', entry: 'api/main.ts', env, port: apiPort }));
  services.push(await startService({ ...common, name: 'aggregator', entry: 'aggregator/main.ts', env, port: aggregatorPort }));

  const testEnv: TestEnv = { runId, env, apiBaseUrl: env.API_BASE_URL!, pspBaseUrl: env.PSP_BASE_URL! };
  globalThis.__payorchTestEnv = testEnv;
  mkdirSync(DATA_DIR, { recursive: true });
  writeFileSync(TEST_ENV_FILE, JSON.stringify(testEnv, null, 2));
}
