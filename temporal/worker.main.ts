/**
 * The worker process: runs PaymentOrder and seller ledger workflows and their activities, and the
 * outbox relay that guarantees every accepted PaymentOrder's workflow starts. All real
 * dependencies are wired here, in one place.
 */
import express from 'express';
import { collectDefaultMetrics } from 'prom-client';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { createLogger } from '../observability/logger';
import { probeRouter } from '../observability/readiness';
import { registerLedgerGauges } from '../observability/ledger-gauges';
import { registerPaymentGauges } from '../observability/payment-gauges';
import { registerWebhookGauges } from '../observability/webhook-metrics';
import { startTracing } from '../observability/tracing';
import { ensureSchedules } from './schedules';
import { ensureAllPayoutSchedules } from './payout-schedules';
import { registerReconciliationGauges } from '../observability/reconciliation-gauges';
import { createWorkerRuntime } from './worker';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'worker', level: config.LOG_LEVEL });
  collectDefaultMetrics();
  const tracing = startTracing({ serviceName: 'payorch-worker', enabled: config.OTEL_TRACES_ENABLED, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  const runtime = await createWorkerRuntime(config, log, { tracing });

  const probeDb = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'payorch-worker-probe' });
  registerLedgerGauges(probeDb.db);
  registerPaymentGauges(probeDb.db);
  registerReconciliationGauges(probeDb.db);
  registerWebhookGauges(probeDb.db);
  const app = express();
  // Ready = it can do its own work: poll Temporal, run activities against Postgres. Kafka is not
  // among them: during a Kafka outage captures go on and ledger batches wait in Postgres for the
  // publish to succeed (activities retry), so the worker stays ready (and `scripts/stack start
  // worker` succeeds) while Kafka is down.
  app.use(
    probeRouter({
      temporal: () => runtime.client.workflowService.getSystemInfo({}),
      postgres: () => probeDb.pool.query('select 1'),
      worker: () => (runtime.worker.getState() === 'RUNNING' ? Promise.resolve() : Promise.reject(new Error(runtime.worker.getState()))),
    }),
  );
  const server = app.listen(config.WORKER_METRICS_PORT, config.BIND_HOST);
  server.on('error', (err) => {
    log.fatal({ err }, 'worker probe server could not listen');
    process.exit(1);
  });

  // Worker.run() drains on SIGTERM/SIGINT; closing connections afterwards must not hold the
  // process hostage (a pool whose client was cut mid-transaction may never finish ending).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(0), config.WORKER_SHUTDOWN_GRACE_MS + 10_000).unref());
  }
  // The deployment's Schedules (Idempotency-Key purge, ledger verification). A failure here is logged, not fatal:
  // captures and ledgers must not stop because a housekeeping Schedule could not be written.
  await ensureSchedules(runtime.client, config).then(
    (ids) => log.info({ schedules: ids }, 'schedules ensured'),
    (err: unknown) => log.error({ err }, 'could not create or update the schedules; the next worker start retries'),
  );
  // Every seller's payout Schedule, up to date with the configuration (cadence, minimum).
  await ensureAllPayoutSchedules(runtime.client, config, runtime.dbHandle.db).then(
    (n) => log.info({ sellers: n }, 'payout schedules ensured'),
    (err: unknown) => log.error({ err }, 'could not create or update the payout schedules; the next worker start retries'),
  );
  log.info({ taskQueue: config.TEMPORAL_TASK_QUEUE, port: config.WORKER_METRICS_PORT }, 'worker running');
  await runtime.run(); // returns after SIGTERM/SIGINT once in-flight tasks drained
  server.close();
  await probeDb.pool.end();
  await tracing?.shutdown();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
