/**
 * The balance aggregator process: consumes LedgerEntriesRecorded (consumer.ts), keeps hot deltas
 * in Redis, rebuilds stopped streams from Postgres (healer.ts) and folds deltas into Postgres
 * snapshots every AGGREGATOR_SNAPSHOT_INTERVAL_MS. Several instances may run in one consumer group.
 */
import express from 'express';
import { Redis } from 'ioredis';
import { collectDefaultMetrics, Gauge } from 'prom-client';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { createKafka } from '../kafka/client';
import { createLogger } from '../observability/logger';
import { probeRouter } from '../observability/readiness';
import { createApplier } from './applier';
import { createBalanceStore } from './balance-store';
import { createAggregatorConsumer } from './consumer';
import { startHealer } from './healer';
import { metrics } from './metrics';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'aggregator', level: config.LOG_LEVEL });
  collectDefaultMetrics();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 5, applicationName: 'payorch-aggregator' });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const store = createBalanceStore({ redis, db, keyPrefix: config.BALANCE_REDIS_PREFIX });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-aggregator` });
  const applier = createApplier({ store, log });
  const consumer = createAggregatorConsumer({
    kafka,
    applier,
    log,
    options: { topic: config.LEDGER_TOPIC, groupId: config.AGGREGATOR_GROUP_ID, retryBaseMs: config.AGGREGATOR_RETRY_BASE_MS, retryCapMs: config.AGGREGATOR_RETRY_CAP_MS },
  });

  // Read from Kafka and Redis at scrape time.
  new Gauge({
    name: 'aggregator_consumer_lag',
    help: 'Messages of the ledger topic not yet committed by this consumer group',
    async collect() {
      this.set(await consumer.lag().catch(() => Number.NaN));
    },
  });
  new Gauge({
    name: 'aggregator_stream_gaps',
    help: 'Streams stopped at a sequence gap (or otherwise waiting to be rebuilt from Postgres); never skipped',
    async collect() {
      this.set(await store.stoppedCount().catch(() => Number.NaN));
    },
  });

  await consumer.start();
  // While Postgres or Redis is down the healer backs off up to the consumer's retry cap, so a
  // stopped stream heals within that long of their return.
  const stopHealer = startHealer({ store, log, intervalMs: config.AGGREGATOR_HEAL_INTERVAL_MS, backoffCapMs: Math.max(config.AGGREGATOR_RETRY_CAP_MS, config.AGGREGATOR_HEAL_INTERVAL_MS) });

  let folding = false;
  const snapshotTimer = setInterval(() => {
    if (folding) return;
    folding = true;
    store
      .foldDirty()
      .then(({ conflicts }) => {
        for (const name of conflicts) {
          metrics.foldConflicts.inc();
          log.error({ balance: name }, 'the Postgres snapshot is not where Redis says; the stream is stopped and rebuilt from Postgres');
        }
      })
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
    stopHealer();
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
