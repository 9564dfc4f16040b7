/**
 * One trace follows a payment: the API's HTTP span, the PaymentOrder workflow start and run, its
 * activities, the PSP calls and the signal to the seller's ledger - checked parent by parent with
 * an in-memory exporter. The API and the worker run in this process (so their spans land in one
 * exporter) against the real Temporal, Postgres, Kafka, Redis and PSP simulator, on a database and
 * task queue of their own.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { createBalanceStore } from '../aggregator/balance-store';
import { createApp } from '../api/app';
import { createAuthenticator } from '../api/auth';
import { createPaymentsService } from '../api/payments.service';
import { createRefundsService } from '../api/refunds.service';
import { createRateLimits } from '../api/rate-limit';
import { createDb } from '../db/client';
import { payments } from '../db/schema';
import { createLogger } from '../observability/logger';
import { withPspTelemetry } from '../observability/metrics';
import { startTracing } from '../observability/tracing';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { connectTemporalClient } from '../temporal/client';
import { createPaymentOrderStarter } from '../temporal/payment-order-starter';
import { starterSettingsFromConfig, createWorkerRuntime } from '../temporal/worker';
import { createMigratedDatabase, dropDatabase } from './databases';
import { stackEnv, testConfig, testEnv, token, uniqueId, waitFor } from './support';

test('a payment is one trace from the HTTP request to the PSP capture and the ledger signal', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = startTracing({ serviceName: 'payorch-trace-test', enabled: true, exporter })!;
  const dbName = `payorch_trace_${Date.now().toString(36)}`;
  const dbUrl = await createMigratedDatabase(stackEnv().DATABASE_URL!, dbName);
  const config = testConfig({ DATABASE_URL: dbUrl, TEMPORAL_TASK_QUEUE: uniqueId('trace') });
  const log = createLogger({ name: 'trace-test', level: 'warn' });
  const runtime = await createWorkerRuntime(config, log, { tracing, relay: false });
  const running = runtime.run();
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const { db, pool } = createDb({ url: dbUrl, poolMax: 5, applicationName: 'trace-test' });
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true });
  const starter = createPaymentOrderStarter({ client, db, settings: starterSettingsFromConfig(config), log });
  const app = createApp({
    auth: createAuthenticator(config),
    payments: createPaymentsService({ db, psp: withPspTelemetry(createHttpPsp({ baseUrl: testEnv().pspBaseUrl, timeoutMs: 2_000 })), startOrders: (o) => starter.start(o), leaseMs: 30_000, commissionBps: 0, retentionS: config.IDEMPOTENCY_KEY_RETENTION_S, log }),
    refunds: createRefundsService({ db, leaseMs: 30_000, retentionS: config.IDEMPOTENCY_KEY_RETENTION_S, startRefunds: (r) => starter.startRefunds(r), signalCancel: (ids) => starter.signalCancel(ids), cancelWaitMs: 0, psp: createHttpPsp({ baseUrl: testEnv().pspBaseUrl, timeoutMs: 2_000 }), log }),
    balances: createBalanceStore({ redis, db, keyPrefix: `${uniqueId('trace')}:` }),
    checks: {},
    limits: createRateLimits({ redis, settings: { ...config, RATE_LIMIT_REDIS_PREFIX: `${uniqueId('trace')}:rl:` }, log }),
    bodyLimitBytes: 65_536,
    corsOrigins: [],
    trustProxyHops: 0,
    log,
  });
  const server = app.listen(0, '127.0.0.1');
  try {
    await new Promise((r) => server.once('listening', r));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token()}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ buyerId: 'b', orderId: randomUUID(), totalAmount: { quantity: 700, currency: 'EUR' }, paymentOrders: [{ sellerId: uniqueId('trace-seller'), amount: { quantity: 700, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { paymentId: string };
    await waitFor('the payment CAPTURED', async () => (await db.select({ status: payments.status }).from(payments).where(eq(payments.id, body.paymentId)))[0]?.status === 'CAPTURED');

    const http = await waitFor('the HTTP span', async () => exporter.getFinishedSpans().find((s) => s.name === 'POST /api/v1/payments'));
    const traceId = http.spanContext().traceId;
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const find = (name: string, parent?: ReadableSpan) => inTrace().find((s) => s.name === name && (!parent || s.parentSpanId === parent.spanContext().spanId));
    const tree = () => inTrace().map((s) => `${s.name} (${s.spanContext().spanId} <- ${s.parentSpanId ?? 'root'})`).join('\n');

    // The API's problem/trace id is the trace's id.
    expect(http.parentSpanId).toBeUndefined();
    const authorize = find('psp.authorize', http);
    const start = find('StartWorkflow:paymentOrderWorkflow', http);
    const run = await waitFor(`RunWorkflow under StartWorkflow in\n${tree()}`, async () => (start ? find('RunWorkflow:paymentOrderWorkflow', start) : undefined), 15_000);
    const scheduleCapture = find('StartActivity:captureAndRecord', run);
    const runCapture = scheduleCapture && find('RunActivity:captureAndRecord', scheduleCapture);
    const pspCapture = runCapture && find('psp.capture', runCapture);
    // The capture activity records the confirmed capture (the hold travels with it) and wakes the
    // seller's ledger: that signal is the activity's child.
    const signalUnder = (step: ReadableSpan) => inTrace().find((s) => s.name.endsWith(':sellerLedgerWorkflow') && s.parentSpanId === step.spanContext().spanId);
    const runStep = runCapture;
    const ledgerSignal = await waitFor(`the ledger wake-up under RunActivity:captureAndRecord in\n${tree()}`, async () => (runCapture ? signalUnder(runCapture) : undefined));
    expect({ authorize: !!authorize, start: !!start, run: !!run, scheduleCapture: !!scheduleCapture, runCapture: !!runCapture, pspCapture: !!pspCapture, runStep: !!runStep, ledgerSignal: !!ledgerSignal, tree: tree() }).toEqual({
      authorize: true,
      start: true,
      run: true,
      scheduleCapture: true,
      runCapture: true,
      pspCapture: true,
      runStep: true,
      ledgerSignal: true,
      tree: tree(),
    });
  } finally {
    server.close();
    runtime.worker.shutdown();
    await running;
    await client.connection.close();
    redis.disconnect();
    await pool.end();
    await tracing.shutdown();
    await dropDatabase(stackEnv().DATABASE_URL!, dbName);
  }
});
