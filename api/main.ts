/** The API process: wires the real dependencies into the Express app and listens. */
import { Redis } from 'ioredis';
import { collectDefaultMetrics } from 'prom-client';
import { loadConfigOrExit, webhookUrlPolicyOf } from '../config/config';
import { createDb } from '../db/client';
import { createLogger } from '../observability/logger';
import { withPspTelemetry } from '../observability/metrics';
import { httpReachable } from '../observability/reachability';
import { startTracing } from '../observability/tracing';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { connectTemporalClient } from '../temporal/client';
import { createPaymentOrderStarter } from '../temporal/payment-order-starter';
import { starterSettingsFromConfig } from '../temporal/worker';
import { createBalanceStore } from '../aggregator/balance-store';
import { createApp } from './app';
import { createAuthenticator } from './auth';
import { createPaymentsService } from './payments.service';
import { createRefundsService } from './refunds.service';
import { createWebhooksService } from './webhooks.service';
import { createWebhookWaker, webhookEndpointSettingsFromConfig } from '../temporal/webhook-relay';
import { createRateLimits } from './rate-limit';
import { clientErrorResponse } from './problem';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'api', level: config.LOG_LEVEL });
  collectDefaultMetrics();
  const tracing = startTracing({ serviceName: 'payorch-api', enabled: config.OTEL_TRACES_ENABLED, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, applicationName: 'payorch-api' });
  // Lazy: the API accepts checkouts without Temporal (the outbox relay starts the workflows), so
  // it must also start without it; the first start of a workflow connects.
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, lazy: true });
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
  redis.on('error', () => undefined); // readiness reports it; ioredis reconnects by itself
  redis.connect().catch(() => undefined);
  // The rate limiter's own connection: a lookup that takes longer than its timeout counts as Redis
  // being down (reads pass, writes follow RATE_LIMIT_WRITES_ON_REDIS_DOWN) instead of holding the request.
  const rateLimitRedis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: config.RATE_LIMIT_REDIS_TIMEOUT_MS });
  rateLimitRedis.on('error', () => undefined);
  rateLimitRedis.connect().catch(() => undefined);

  const starter = createPaymentOrderStarter({ client, db, settings: starterSettingsFromConfig(config), log });
  // Fault injection for the durable-acceptance test only (FAULT_INJECT is 'none' by default, and
  // the configuration refuses anything else when NODE_ENV=production).
  const crash = () => process.kill(process.pid, 'SIGKILL');
  const payments = createPaymentsService({
    db,
    psp: withPspTelemetry(createHttpPsp({ baseUrl: config.PSP_BASE_URL, timeoutMs: config.PSP_TIMEOUT_MS })),
    startOrders: (orders) => starter.start(orders),
    leaseMs: config.IDEMPOTENCY_LEASE_MS,
    commissionBps: config.PLATFORM_COMMISSION_BPS,
    retentionS: config.IDEMPOTENCY_KEY_RETENTION_S,
    log,
    ...(config.FAULT_INJECT === 'crash-after-commit' ? { afterCommit: crash } : {}),
  });

  const refunds = createRefundsService({
    db,
    leaseMs: config.IDEMPOTENCY_LEASE_MS,
    retentionS: config.IDEMPOTENCY_KEY_RETENTION_S,
    startRefunds: (items) => starter.startRefunds(items),
    signalCancel: (ids) => starter.signalCancel(ids),
    cancelWaitMs: config.CANCEL_WAIT_MS,
    psp: withPspTelemetry(createHttpPsp({ baseUrl: config.PSP_BASE_URL, timeoutMs: config.PSP_TIMEOUT_MS })),
    log,
  });

  const waker = createWebhookWaker({ client, taskQueue: config.TEMPORAL_TASK_QUEUE, settings: webhookEndpointSettingsFromConfig(config) });
  const webhooks = createWebhooksService({ db, urlPolicy: webhookUrlPolicyOf(config), secretGraceS: config.WEBHOOK_SECRET_GRACE_S, wake: (id) => waker.wake(id), log });

  const app = createApp({
    auth: createAuthenticator(config),
    payments,
    refunds,
    webhooks,
    balances: createBalanceStore({ redis, db, keyPrefix: config.BALANCE_REDIS_PREFIX }),
    limits: createRateLimits({ redis: rateLimitRedis, settings: config, log }),
    bodyLimitBytes: config.API_BODY_LIMIT_BYTES,
    corsOrigins: config.API_CORS_ORIGINS,
    trustProxyHops: config.API_TRUST_PROXY,
    log,
    moneyOut: { db, idempotency: { leaseMs: config.IDEMPOTENCY_LEASE_MS, retentionS: config.IDEMPOTENCY_KEY_RETENTION_S } },
    // Ready = can serve its own requests. A checkout needs Postgres and the PSP only: workflows
    // start later through the outbox (Temporal down: the relay retries), the ledger reaches Kafka
    // from the worker, balance reads fall back to Postgres and rate limits to their Redis-down
    // policy. Taking the API out of the load balancer for a Kafka, Redis or Temporal outage would
    // turn a degraded dependency into a checkout outage.
    checks: {
      postgres: () => pool.query('select 1'),
      psp: () => httpReachable(config.PSP_BASE_URL),
    },
    ...(config.FAULT_INJECT === 'crash-after-response' ? { afterResponse: crash } : {}),
  });

  const server = app.listen(config.API_PORT, config.BIND_HOST, () => log.info({ port: config.API_PORT }, 'API listening'));
  server.on('error', (err) => {
    log.fatal({ err }, 'API could not listen');
    process.exit(1);
  });
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (socket.writable) socket.end(clientErrorResponse(err));
    else socket.destroy();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const shutdown = () => {
    log.info('API shutting down');
    server.close(() => {
      void Promise.allSettled([pool.end(), client.connection.close(), redis.quit(), rateLimitRedis.quit(), tracing?.shutdown()]).then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
