/**
 * Worker bootstrap: connects to Temporal, Postgres and Kafka, builds the activities from their
 * factories, and creates the Worker plus the outbox relay. Used by the worker process and by tests
 * that need a worker with the real activities.
 */
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type WorkerOptions } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { createDb, type DbHandle } from '../db/client';
import { createKafka, createLazyProducer, type LazyProducer } from '../kafka/client';
import type { Logger } from '../observability/logger';
import { withPspTelemetry } from '../observability/metrics';
import type { Tracing } from '../observability/tracing';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { temporalLoggerFor } from '../observability/temporal-logger';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { createIdempotencyActivities } from '../activities/idempotency.activities';
import { createLedgerActivities } from '../activities/ledger.activities';
import { createLedgerSignalActivities } from '../activities/ledger-signal.activities';
import { createPaymentOrderActivities } from '../activities/payment-order.activities';
import { createPspActivities } from '../activities/psp.activities';
import { createLedgerVerificationActivities } from '../activities/ledger-verification.activities';
import { createRefundActivities } from '../activities/refund.activities';
import { createSettlementActivities } from '../activities/settlement.activities';
import { createPayoutActivities } from '../activities/payout.activities';
import { createMoneyOutClient } from '../psp/money-out.client';
import { ensurePayoutSchedule } from './payout-schedules';
import { connectTemporalClient } from './client';
import { assertBundleMatchesWorker, tracingInterceptorModules, workflowBundlePath, workflowsEntry } from './workflow-bundles';
import { runLedgerSweeper } from './ledger-sweeper';
import { runPayoutSweeper } from './payout-sweeper';
import { createPaymentOrderStarter } from './payment-order-starter';
import { createWebhookActivities } from '../activities/webhook.activities';
import { createWebhookSender } from '../webhooks/http-sender';
import { webhookUrlPolicyOf } from '../config/config';
import { createWebhookRelay, createWebhookWaker, webhookEndpointSettingsFromConfig } from './webhook-relay';

export type WorkerRuntime = {
  worker: Worker;
  client: Client;
  dbHandle: DbHandle;
  producer: LazyProducer;
  /** Runs the worker and the relay until shutdown; then releases every connection. */
  run: () => Promise<void>;
};

export function backoffFromConfig(config: Config) {
  return { baseMs: config.CAPTURE_BACKOFF_BASE_MS, capMs: config.CAPTURE_BACKOFF_CAP_MS };
}

/** What the PaymentOrder starter needs from the configuration (API and worker alike). */
export function starterSettingsFromConfig(config: Config) {
  return {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    backoff: backoffFromConfig(config),
    captureSafetyMarginMs: config.CAPTURE_AUTH_SAFETY_MARGIN_MS,
    refundRetryWindowMs: config.REFUND_RETRY_WINDOW_S * 1_000,
    authValidityDefaultMs: config.AUTH_VALIDITY_DEFAULT_S * 1_000,
  };
}

export function ledgerSettingsFromConfig(config: Config) {
  return { batchMaxItems: config.LEDGER_BATCH_MAX_ITEMS, batchMaxWaitMs: config.LEDGER_BATCH_MAX_WAIT_MS, historyEventsMax: config.LEDGER_HISTORY_EVENTS_MAX };
}

/** Settlement and payouts (money out): the PSP's report and payout rail, Postgres, the payout Schedules. */
export function moneyOutActivities(config: Config, client: Client, dbHandle: DbHandle, wakeLedger: (streamId: string) => Promise<void>) {
  const moneyOut = createMoneyOutClient({ baseUrl: config.PSP_BASE_URL, timeoutMs: config.PSP_TIMEOUT_MS });
  return {
    ...createSettlementActivities({ db: dbHandle.db, moneyOut, wakeLedger, feeModel: { feeBps: config.RECON_FEE_BPS, feeFixedMinor: BigInt(config.RECON_FEE_FIXED_MINOR) }, ensurePayoutSchedule: (sellerId) => ensurePayoutSchedule(client, config, sellerId, { db: dbHandle.db }) }),
    ...createPayoutActivities({ db: dbHandle.db, moneyOut, wakeLedger }),
  };
}

let runtimeInstalled = false;

export type WorkerRuntimeOptions = Partial<Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>> & {
  tracing?: Tracing;
  /** Run the outbox relay and the ledger sweeper with the worker, and put the schedules in place (default true). */
  relay?: boolean;
};

/** Task slots and pollers, from the configuration; the benchmark's bare-Temporal worker uses the same. */
export function workerTuning(config: Config): Pick<
  WorkerOptions,
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentLocalActivityExecutions'
  | 'maxConcurrentWorkflowTaskPolls'
  | 'nonStickyToStickyPollRatio'
  | 'maxConcurrentActivityTaskPolls'
  | 'workflowThreadPoolSize'
> {
  return {
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    // New workflows' first tasks arrive on the normal (non-sticky) queue; with the SDK's default
    // (10 polls, ratio 0.2) only two pollers served it and tasks waited there for seconds.
    maxConcurrentWorkflowTaskPolls: Math.min(config.WORKER_WORKFLOW_TASK_POLLS, config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS),
    nonStickyToStickyPollRatio: config.WORKER_NON_STICKY_POLL_RATIO,
    maxConcurrentActivityTaskPolls: config.WORKER_ACTIVITY_TASK_POLLS,
    workflowThreadPoolSize: config.WORKER_WORKFLOW_THREADS,
  };
}

export async function createWorkerRuntime(config: Config, log: Logger, overrides: WorkerRuntimeOptions = {}): Promise<WorkerRuntime> {
  if (!runtimeInstalled) {
    // The process-wide SDK runtime; a host that installed one already (a test) keeps its own.
    try {
      Runtime.install({
        logger: temporalLoggerFor(log),
        telemetryOptions: {
          logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
          // The SDK's own worker metrics (task latencies, slots, polls), in Prometheus format.
          ...(config.WORKER_SDK_METRICS_PORT > 0 ? { metrics: { prometheus: { bindAddress: `${config.BIND_HOST}:${config.WORKER_SDK_METRICS_PORT}` } } } : {}),
        },
      });
    } catch (err) {
      if (!(err instanceof Error && err.name === 'IllegalStateError')) throw err;
    }
    runtimeInstalled = true;
  }
  const dbHandle = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, applicationName: 'payorch-worker' });
  const producer = createLazyProducer(createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-worker` }));
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });

  const ledgerSignal = createLedgerSignalActivities({ client, taskQueue: config.TEMPORAL_TASK_QUEUE, settings: ledgerSettingsFromConfig(config) });
  // The payout sweeper uses the payout run's own activities (sendPayout, checkPayoutReturned).
  const moneyOut = moneyOutActivities(config, client, dbHandle, (sellerId) => ledgerSignal.wakeLedger(sellerId));
  const orderSteps = createPaymentOrderActivities({ db: dbHandle.db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) });
  const activities = {
    ...createPspActivities({ psp: withPspTelemetry(createHttpPsp({ baseUrl: config.PSP_BASE_URL, timeoutMs: config.PSP_TIMEOUT_MS })), db: dbHandle.db, recordCapture: (step) => orderSteps.advancePaymentOrder(step) }),
    ...orderSteps,
    ...createLedgerActivities({ db: dbHandle.db, producer, topic: config.LEDGER_TOPIC, publishTimeoutMs: config.LEDGER_PUBLISH_TIMEOUT_MS }),
    ...createLedgerVerificationActivities({ db: dbHandle.db, graceMs: config.LEDGER_VERIFY_GRACE_MS }),
    ...createRefundActivities({ db: dbHandle.db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) }),
    ...createIdempotencyActivities({ db: dbHandle.db }),
    ...moneyOut,
    ...createWebhookActivities({
      db: dbHandle.db,
      send: createWebhookSender({ policy: webhookUrlPolicyOf(config), timeoutMs: config.WEBHOOK_TIMEOUT_MS, responseMaxBytes: 1_024 }),
      settings: {
        concurrency: config.WEBHOOK_CONCURRENCY_PER_ENDPOINT,
        backoff: { baseMs: config.WEBHOOK_BACKOFF_BASE_MS, capMs: config.WEBHOOK_BACKOFF_CAP_MS },
        retryWindowMs: config.WEBHOOK_RETRY_WINDOW_S * 1_000,
        disableAfterMs: config.WEBHOOK_DISABLE_AFTER_S * 1_000,
        // Longer than a whole round (sends run `concurrency` at a time, each bounded by the timeout), so a retried round does not resend what a slow one still sends.
        claimLeaseMs: config.WEBHOOK_TIMEOUT_MS * Math.ceil(config.WEBHOOK_BATCH_MAX / config.WEBHOOK_CONCURRENCY_PER_ENDPOINT) + 10_000,
      },
    }),
  };

  if (!overrides.workflowBundle && config.WORKFLOW_BUNDLE_DIR && !overrides.workflowsPath) assertBundleMatchesWorker(config.WORKFLOW_BUNDLE_DIR);
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...(overrides.workflowBundle
      ? { workflowBundle: overrides.workflowBundle }
      : config.WORKFLOW_BUNDLE_DIR && !overrides.workflowsPath
        ? { workflowBundle: { codePath: workflowBundlePath(config.WORKFLOW_BUNDLE_DIR, !!overrides.tracing) } }
        : { workflowsPath: overrides.workflowsPath ?? workflowsEntry() }),
    activities,
    ...workerTuning(config),
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
    ...(overrides.tracing
      ? {
          interceptors: {
            workflowModules: tracingInterceptorModules(), // compiled into the prebuilt traced bundle too
            activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
          },
          sinks: { exporter: makeWorkflowExporter(overrides.tracing.spanProcessor, overrides.tracing.resource) },
        }
      : {}),
  });

  const starter = createPaymentOrderStarter({ client, db: dbHandle.db, settings: starterSettingsFromConfig(config), log });
  const webhookRelay = createWebhookRelay({ db: dbHandle.db, waker: createWebhookWaker({ client, taskQueue: config.TEMPORAL_TASK_QUEUE, settings: webhookEndpointSettingsFromConfig(config) }), log });

  return {
    worker,
    client,
    dbHandle,
    producer,
    async run() {
      const noRelays = overrides.relay === false;
      const stopRelay = noRelays ? () => Promise.resolve() : starter.runRelay({ intervalMs: config.OUTBOX_RELAY_INTERVAL_MS, minAgeMs: config.OUTBOX_RELAY_MIN_AGE_MS, batchMax: config.OUTBOX_RELAY_BATCH_MAX });
      const stopSweeper = noRelays
        ? () => Promise.resolve()
        : runLedgerSweeper({ db: dbHandle.db, wake: (streamId) => ledgerSignal.wakeLedger(streamId), log }, { intervalMs: config.LEDGER_SWEEP_INTERVAL_MS, minAgeMs: config.LEDGER_SWEEP_MIN_AGE_MS, limit: 500 });
      const stopPayoutSweeper = noRelays
        ? () => Promise.resolve()
        : runPayoutSweeper(
            { db: dbHandle.db, payouts: moneyOut, log },
            { intervalMs: config.PAYOUT_SWEEP_INTERVAL_MS, stuckAfterS: config.PAYOUT_STUCK_AFTER_S, returnWatchS: config.PAYOUT_RETURN_WATCH_S, returnHorizonS: config.PAYOUT_RETURN_HORIZON_S, recheckS: config.PAYOUT_SWEEP_RECHECK_S, limit: 100 },
          );
      const stopWebhookRelay =
        noRelays || !config.WEBHOOKS_ENABLED
          ? () => Promise.resolve()
          : webhookRelay.run({ intervalMs: config.WEBHOOK_RELAY_INTERVAL_MS, batchMax: config.WEBHOOK_RELAY_BATCH_MAX, sweepMinAgeMs: config.WEBHOOK_SWEEP_MIN_AGE_MS, sweepEveryTicks: 10 });
      try {
        await worker.run();
      } finally {
        await stopWebhookRelay();
        await stopPayoutSweeper();
        await stopSweeper();
        await stopRelay();
        await producer.disconnect();
        await client.connection.close();
        await connection.close();
        await dbHandle.pool.end();
      }
    },
  };
}
