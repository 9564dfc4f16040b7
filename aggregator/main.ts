/**
 * The balance aggregator process: consumes LedgerEntriesRecorded, keeps hot deltas in Redis and
 * folds them into Postgres snapshots every AGGREGATOR_SNAPSHOT_INTERVAL_MS. Several instances may
 * run in one consumer group.
 */
import express from 'express';
import { Redis } from 'ioredis';
import { collectDefaultMetrics, Gauge } from 'prom-client';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { createKafka } from '../kafka/client';
import { createLogger } from '../observability/logger';
import { probeRouter } from '../observability/readiness';
import { createBalanceStore } from './balance-store';
import { createAggregatorConsumer } from './consumer';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'aggregator', level: config.LOG_LEVEL });
  collectDefaultMetrics();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 5, applicationName: 'payorch-aggregator' });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const store = createBalanceStore({ redis, db, keyPrefix: config.BALANCE_REDIS_PREFIX });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-aggregator` });
  const consumer = createAggregatorConsumer({ kafka, store, log, options: { topic: config.LEDGER_TOPIC, groupId: config.AGGREGATOR_GROUP_ID, applyAttemptsMax: config.AGGREGATOR_APPLY_ATTEMPTS_MAX } });

  // Consumer lag, read from Kafka at scrape time.
  new Gauge({
    name: 'aggregator_consumer_lag',
    help: 'Messages of the ledger topic not yet committed by this consumer group',
    async collect() {
      this.set(await consumer.lag().catch(() => Number.NaN));
    },
  });

  await store.ensureEpoch().catch((err: unknown) => log.warn({ err }, 'balance epoch not ready yet; the consumer will retry'));
  await consumer.start();

  let folding = false;
  const snapshotTimer = setInterval(() => {
    if (folding) return;
    folding = true;
    store
      .foldDirty()
      .catch((err: unknown) => log.warn({ err }, 'snapshot pass failed; it will run again'))
      .finally(() => (folding = false));
  }, config.AGGREGATOR_SNAPSHOT_INTERVAL_MS);

  const app = express();
  app.use(
    probeRouter({
      postgres: () => pool.query('select 1'),
      redis: () => redis.ping(),
      kafka: () => consumer.lag(),
    }),
  );
  const server = app.listen(config.AGGREGATOR_METRICS_PORT, config.BIND_HOST, () => log.info({ port: config.AGGREGATOR_METRICS_PORT, topic: config.LEDGER_TOPIC, groupId: config.AGGREGATOR_GROUP_ID }, 'aggregator running'));
  server.on('error', (err) => {
    log.fatal({ err }, 'aggregator probe server could not listen');
    process.exit(1);
  });

  const shutdown = () => {
    clearInterval(snapshotTimer);
    server.close();
    void consumer
      .stop()
      .catch(() => undefined)
      .then(() => Promise.allSettled([pool.end(), redis.quit()]))
      .then(() => process.exit(0));
    setTimeout(() => process.exit(0), 15_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`aggregator failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
