/**
 * Records the committed histories of `histories/` from real runs: a Temporal dev server of its own
 * (the stack's CLI binary, suggesting continue-as-new at 40 events so that path is exercised) and
 * the running stack's Postgres, Kafka and PSP simulator. Each path of each workflow version runs
 * once and its history is exported in the format of `temporal workflow show --output json`. CI
 * replays them against the current code (histories/replay.test.ts); re-record only to add a path.
 *
 *   scripts/stack up && node --import tsx scripts/record-histories.ts [--only name,...]
 *
 * The money-out paths (settlement-imported, then the payout-* ones, in that order) need the PSP
 * to settle and return payouts within seconds:
 *   scripts/stack stop psp && PSP_SETTLEMENT_LAG_S=3 PSP_PAYOUT_RETURN_DELAY_S=3 scripts/stack start psp
 *
 * The previous release's paths run on its own code (test/v1-workflows, the release's workflows
 * verbatim), the current ones on workflows/.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createLedgerActivities } from '../activities/ledger.activities';
import { createLedgerSignalActivities } from '../activities/ledger-signal.activities';
import { createLedgerVerificationActivities } from '../activities/ledger-verification.activities';
import { createPaymentOrderActivities } from '../activities/payment-order.activities';
import { createPspActivities } from '../activities/psp.activities';
import { createRefundActivities } from '../activities/refund.activities';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { eq, sql } from 'drizzle-orm';
import { insertLedgerFacts } from '../db/ledger-facts';
import { paymentOrders, refunds } from '../db/schema';
import { createKafka, createLazyProducer } from '../kafka/client';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { moneyOutActivities } from '../temporal/worker';
import { seedAuthorizedPayment } from '../test/fixtures';
import { ALL_SEARCH_ATTRIBUTES, CAPTURE_BOUNDED_BY_AUTHORIZATION, CAPTURE_RECORDED_BY_ACTIVITY, LEDGER_FACTS_IN_POSTGRES, cancelPaymentOrderSignal, ledgerFactsSignal, ledgerWakeSignal, refundWorkflowId, type RefundInput, paymentOrderWorkflowId, sellerLedgerWorkflowId, type LedgerFactPayload, type PaymentOrderInput, type SellerLedgerSettings } from '../workflows/contracts';

const ROOT = path.resolve(__dirname, '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The settlement lag and payout return delay the money-out recordings expect of the stack's PSP. */
const MONEY_OUT_LAG_S = 3;

/** `run` returns the workflow to export, or undefined when another version's step exports it. */
type Recording = { name: string; version: 'v1' | 'current'; run: (ctx: Context) => Promise<WorkflowHandle | undefined> };
type Context = {
  client: Client;
  taskQueue: string;
  seed: (token: string) => Promise<PaymentOrderInput>;
  /** An authorized payment of one order for `sellerId`. */
  seedFor: (sellerId: string, token: string) => Promise<PaymentOrderInput>;
  ledgerSettings: SellerLedgerSettings;
  db: ReturnType<typeof createDb>['db'];
  tag: string;
  /** Steps to run once this version's worker has stopped. */
  afterStop: Array<() => Promise<void>>;
};

const fact = (sellerId: string): LedgerFactPayload => ({
  entryType: 'AUTH_HOLD',
  paymentOrderId: randomUUID(),
  paymentId: randomUUID(),
  sellerId,
  amountMinor: '1000',
  currency: 'EUR',
  commissionBps: 0,
});

const startOrder = (ctx: Context, input: PaymentOrderInput) =>
  ctx.client.workflow.start('paymentOrderWorkflow', { taskQueue: ctx.taskQueue, workflowId: paymentOrderWorkflowId(input.paymentOrderId), args: [input] });

/** Money out: sellers of the settlement and payout recordings (a paid, a failing and a returned payout). */
const moneyOutSellers = (ctx: Context) => ({ paid: `history-payout-${ctx.tag}`, failed: `seller-payout-fail-history-${ctx.tag}`, returned: `seller-payout-return-history-${ctx.tag}` });
const payoutRun = (ctx: Context, sellerId: string, returnWatchS: number) =>
  ctx.client.workflow.start('payoutWorkflow', { taskQueue: ctx.taskQueue, workflowId: `payout-history:${sellerId}`, args: [{ sellerId, minMinor: '1', returnWatchS, returnPollS: 1 }] });

const upgradeSeller = (ctx: Context) => `history-upgrade-${ctx.tag}`;
/** Where the v1 step leaves the order id for the current step (another process). */
const exhaustedHandoverFile = (ctx: Context) => path.join(os.tmpdir(), `record-histories-exhausted-${ctx.tag}.txt`);

/** Captures an order of `token`, records a refund of `amountMinor` as the API does, and starts its workflow. */
async function refundOf(ctx: Context, token: string, amountMinor: bigint): Promise<WorkflowHandle> {
  const order = await ctx.seed(token);
  await (await startOrder(ctx, order)).result();
  const [row] = await ctx.db.select({ pspCaptureId: paymentOrders.pspCaptureId }).from(paymentOrders).where(eq(paymentOrders.id, order.paymentOrderId));
  const refundId = randomUUID();
  await ctx.db.transaction(async (tx) => {
    await tx.update(paymentOrders).set({ refundReservedMinor: sql`${paymentOrders.refundReservedMinor} + ${amountMinor}` }).where(eq(paymentOrders.id, order.paymentOrderId));
    await tx.insert(refunds).values({ id: refundId, paymentId: order.paymentId, paymentOrderId: order.paymentOrderId, sellerId: order.sellerId, amountMinor, currency: order.currency, status: 'REFUND_REQUESTED' });
  });
  const input: RefundInput = { refundId, paymentId: order.paymentId, paymentOrderId: order.paymentOrderId, sellerId: order.sellerId, amountMinor: amountMinor.toString(), currency: order.currency, pspCaptureId: row!.pspCaptureId!, backoff: { baseMs: 100, capMs: 400 }, retryWindowMs: 60_000 };
  return ctx.client.workflow.start('refundWorkflow', { taskQueue: ctx.taskQueue, workflowId: refundWorkflowId(refundId), args: [input] });
}

const RECORDINGS: Recording[] = [
  {
    // The previous release's ledger holds facts in its state when the new release takes over
    // (the second half of this recording runs on the current code and exports the history).
    name: 'seller-ledger-v1-handover',
    version: 'v1',
    run: async (ctx) => {
      const sellerId = upgradeSeller(ctx);
      const signal = (facts: LedgerFactPayload[]) => ctx.client.workflow.signalWithStart('sellerLedgerWorkflow', { workflowId: sellerLedgerWorkflowId(sellerId), taskQueue: ctx.taskQueue, args: [{ sellerId, settings: { ...ctx.ledgerSettings, batchMaxItems: 2 } }], signal: ledgerFactsSignal, signalArgs: [facts] });
      await signal([fact(sellerId), fact(sellerId)]);
      await sleep(2_000);
      // Facts that the old release's worker will never see: they wait in the run's history.
      ctx.afterStop.push(() => signal([fact(sellerId), fact(sellerId), fact(sellerId)]).then(() => undefined));
      return undefined;
    },
  },
  {
    name: 'seller-ledger-v1-handover',
    version: 'current',
    run: async (ctx) => {
      const sellerId = upgradeSeller(ctx);
      // The run's pending task waits out the old worker's sticky queue, then reaches this worker.
      await sleep(12_000);
      const runs: Array<{ runId: string; startTime: Date }> = [];
      for await (const execution of ctx.client.workflow.list({ query: `WorkflowId = '${sellerLedgerWorkflowId(sellerId)}'` })) runs.push({ runId: execution.runId, startTime: execution.startTime });
      runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
      return ctx.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId), runs[0]!.runId);
    },
  },
  {
    // The previous release's production path: AUTH_HOLD sent with the first outcome (ledgerHold).
    name: 'payment-order-v1-ledger-hold-captured-after-retries',
    version: 'v1',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_capture_retry_2')), backoff: { baseMs: 100, capMs: 400, attemptsMax: 5 }, ledgerHold: 'with-first-outcome', captureModel: undefined }),
  },
  {
    name: 'payment-order-v1-ledger-hold-capture-failed',
    version: 'v1',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_capture_fail')), backoff: { baseMs: 100, capMs: 400, attemptsMax: 5 }, ledgerHold: 'with-first-outcome', captureModel: undefined }),
  },
  {
    // The previous release's order whose attempts run out on ambiguous captures (the PSP captured
    // on the first call; every reply times out): started on that release's code, it finishes on
    // the current one, which hands it over (continue-as-new) to the current capture code instead
    // of failing it; the next run looks the capture up.
    name: 'payment-order-v1-exhausted-handover',
    version: 'v1',
    run: async (ctx) => {
      const input = { ...(await ctx.seed('tok_capture_timeout_9')), backoff: { baseMs: 4_000, capMs: 4_000, attemptsMax: 3 }, ledgerHold: 'with-first-outcome' as const, captureModel: undefined };
      writeFileSync(exhaustedHandoverFile(ctx), input.paymentOrderId);
      await startOrder(ctx, input);
      // The first attempt runs on the previous release; the rest on the current one.
      await sleep(2_500);
      return undefined;
    },
  },
  {
    name: 'payment-order-v1-exhausted-handover',
    version: 'current',
    run: async (ctx) => {
      const paymentOrderId = readFileSync(exhaustedHandoverFile(ctx), 'utf8');
      const handle = ctx.client.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId));
      await handle.result();
      const runs: Array<{ runId: string; startTime: Date }> = [];
      for await (const execution of ctx.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) runs.push({ runId: execution.runId, startTime: execution.startTime });
      runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
      return ctx.client.workflow.getHandle(handle.workflowId, runs[0]!.runId);
    },
  },
  {
    name: 'payment-order-v2-captured',
    version: 'current',
    run: async (ctx) => startOrder(ctx, await ctx.seed('tok_visa')),
  },
  {
    // Unknown outcome (the PSP captured, the reply timed out) resolved by a lookup.
    name: 'payment-order-v2-unknown-lookup-captured',
    version: 'current',
    run: async (ctx) => startOrder(ctx, await ctx.seed('tok_capture_timeout_1')),
  },
  {
    // Unknown outcomes whose lookup fails too: retried with the same key until the PSP answers.
    name: 'payment-order-v2-unknown-lookup-failing-retried',
    version: 'current',
    run: async (ctx) => startOrder(ctx, await ctx.seed('tok_capture_timeout_2+tok_lookup_fail_2')),
  },
  {
    name: 'payment-order-v2-rejected-voided',
    version: 'current',
    run: async (ctx) => startOrder(ctx, await ctx.seed('tok_capture_fail')),
  },
  {
    // Retryable failures until the capture window closes, then the void.
    name: 'payment-order-v2-window-closed-voided',
    version: 'current',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_auth_expires_30+tok_capture_retry_100000')), captureSafetyMarginMs: 25_000 }),
  },
  {
    // A long retry continues as new (this recording's server suggests it at 40 events) and the
    // next run captures. The history is the first run's, which ends in ContinuedAsNew.
    name: 'payment-order-v2-retries-continued-as-new',
    version: 'current',
    run: async (ctx) => {
      const handle = await startOrder(ctx, await ctx.seed('tok_capture_retry_12'));
      await handle.result();
      return ctx.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    },
  },
  {
    // The payment is cancelled while the capture retries: the void wins, VOIDED + AUTH_RELEASE.
    name: 'payment-order-v2-cancelled-voided',
    version: 'current',
    run: async (ctx) => {
      const order = await ctx.seed('tok_capture_retry_100000');
      const handle = await startOrder(ctx, order);
      await sleep(1_500);
      await ctx.db.update(paymentOrders).set({ cancelRequestedAt: sql`now()` }).where(eq(paymentOrders.id, order.paymentOrderId));
      await handle.signal(cancelPaymentOrderSignal);
      return handle;
    },
  },
  {
    // The capture activity records the confirmed capture itself: no step after it.
    name: 'payment-order-v3-captured-recorded-by-capture',
    version: 'current',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_visa')), captureRecording: CAPTURE_RECORDED_BY_ACTIVITY }),
  },
  {
    // Retryable failures (a PENDING_CAPTURE step each), then a capture recorded by the activity.
    name: 'payment-order-v3-retries-captured',
    version: 'current',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_capture_retry_2')), captureRecording: CAPTURE_RECORDED_BY_ACTIVITY }),
  },
  {
    // Unknown outcome resolved by a lookup: the workflow records the capture in a step.
    name: 'payment-order-v3-unknown-lookup-captured',
    version: 'current',
    run: async (ctx) => startOrder(ctx, { ...(await ctx.seed('tok_capture_timeout_1')), captureRecording: CAPTURE_RECORDED_BY_ACTIVITY }),
  },
  {
    // Long retries on this release's path continue as new (each resumed run too).
    name: 'payment-order-v3-retries-continued-as-new',
    version: 'current',
    run: async (ctx) => {
      const handle = await startOrder(ctx, { ...(await ctx.seed('tok_capture_retry_12')), captureRecording: CAPTURE_RECORDED_BY_ACTIVITY });
      await handle.result();
      return ctx.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    },
  },
  {
    // Cancelled while the capture retries on this release's path: VOIDED + AUTH_RELEASE.
    name: 'payment-order-v3-cancelled-voided',
    version: 'current',
    run: async (ctx) => {
      const order: PaymentOrderInput = { ...(await ctx.seed('tok_capture_retry_100000')), captureRecording: CAPTURE_RECORDED_BY_ACTIVITY };
      const handle = await startOrder(ctx, order);
      await sleep(1_500);
      await ctx.db.update(paymentOrders).set({ cancelRequestedAt: sql`now()` }).where(eq(paymentOrders.id, order.paymentOrderId));
      await handle.signal(cancelPaymentOrderSignal);
      return handle;
    },
  },
  {
    name: 'refund-refunded',
    version: 'current',
    run: (ctx) => refundOf(ctx, 'tok_visa', 1_000n),
  },
  {
    // The PSP refunds, its reply times out; the lookup finds the refund.
    name: 'refund-unknown-lookup-refunded',
    version: 'current',
    run: (ctx) => refundOf(ctx, 'tok_refund_timeout_1', 1_000n),
  },
  {
    name: 'refund-rejected-failed',
    version: 'current',
    run: (ctx) => refundOf(ctx, 'tok_refund_fail', 1_000n),
  },
  {
    // The current ledger: wake-ups, commits and publication from Postgres, continue-as-new.
    name: 'seller-ledger-v2-facts-in-postgres',
    version: 'current',
    run: async (ctx) => {
      const sellerId = `history-ledger-${ctx.tag}`;
      const settings = { ...ctx.ledgerSettings, historyEventsMax: 60 };
      let firstRunId: string | undefined;
      for (let i = 0; i < 12; i++) {
        await insertLedgerFacts(ctx.db, [fact(sellerId), fact(sellerId)]);
        const handle = await ctx.client.workflow.signalWithStart('sellerLedgerWorkflow', { workflowId: sellerLedgerWorkflowId(sellerId), taskQueue: ctx.taskQueue, args: [{ sellerId, settings, journal: LEDGER_FACTS_IN_POSTGRES }], signal: ledgerWakeSignal, signalArgs: [] });
        firstRunId ??= handle.signaledRunId;
        await sleep(300);
      }
      // The first run (it continued as new along the way).
      return ctx.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId), firstRunId);
    },
  },
  {
    // Money out (needs the PSP with a short PSP_SETTLEMENT_LAG_S, see main): three sellers'
    // captures settled by one import; the payout recordings below pay them out.
    name: 'settlement-imported',
    version: 'current',
    run: async (ctx) => {
      for (const sellerId of Object.values(moneyOutSellers(ctx))) await (await startOrder(ctx, await ctx.seedFor(sellerId, 'tok_visa'))).result();
      await sleep(MONEY_OUT_LAG_S * 1_000 + 1_500);
      return ctx.client.workflow.start('settlementWorkflow', { taskQueue: ctx.taskQueue, workflowId: `settlement-history-${ctx.tag}`, args: [{ lookbackDays: 1, unsettledAfterS: 3_600 }] });
    },
  },
  {
    name: 'payout-paid',
    version: 'current',
    run: (ctx) => payoutRun(ctx, moneyOutSellers(ctx).paid, 0),
  },
  {
    // The rail refuses sellers named seller-payout-fail*.
    name: 'payout-failed',
    version: 'current',
    run: (ctx) => payoutRun(ctx, moneyOutSellers(ctx).failed, 0),
  },
  {
    // The rail pays sellers named seller-payout-return*, then returns the payout after PSP_PAYOUT_RETURN_DELAY_S.
    name: 'payout-returned',
    version: 'current',
    run: (ctx) => payoutRun(ctx, moneyOutSellers(ctx).returned, MONEY_OUT_LAG_S * 4),
  },
  {
    // A seller with nothing settled: the run reserves nothing.
    name: 'payout-nothing-available',
    version: 'current',
    run: (ctx) => payoutRun(ctx, `history-payout-empty-${ctx.tag}`, 0),
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, version: { type: 'string' }, 'db-file': { type: 'string' }, tag: { type: 'string' } } });
  const only = values.only?.split(',');
  if (values.version === undefined) {
    // One process per workflow version, on one dev server whose state is kept in a file between
    // them: a second Worker with another bundle in the same process crashed Node here ("async
    // hook stack has become corrupted").
    const dbFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'record-histories-')), 'temporal.db');
    const tag = Date.now().toString(36);
    for (const version of ['v1', 'current']) {
      execFileSync(process.execPath, ['--import', 'tsx', __filename, '--version', version, '--db-file', dbFile, '--tag', tag, ...(values.only ? ['--only', values.only] : [])], { stdio: 'inherit' });
    }
    return;
  }
  if (values.version !== 'v1' && values.version !== 'current') throw new Error('--version must be v1 or current');
  const config = loadConfigOrExit();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const tag = values.tag ?? Date.now().toString(36);
  const taskQueue = `record-histories-${tag}`;
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 5, applicationName: 'record-histories' });
  const producer = createLazyProducer(createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'record-histories' }));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: config.TEMPORAL_CLI_PATH ?? 'temporal' },
      ip: '127.0.0.1',
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      extraArgs: ['--log-level', 'error', '--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40'],
      ...(values['db-file'] ? { dbFilename: values['db-file'] } : {}),
    },
  });
  const client = env.client;
  const connection = env.nativeConnection;
  const ledgerSettings: SellerLedgerSettings = { batchMaxItems: 10, batchMaxWaitMs: 0, historyEventsMax: 10_000 };
  const ledgerSignal = createLedgerSignalActivities({ client, taskQueue, settings: ledgerSettings });
  const orderSteps = createPaymentOrderActivities({ db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) });
  const activities = {
    ...createPspActivities({ psp: createHttpPsp({ baseUrl: config.PSP_BASE_URL, timeoutMs: 1_000 }), db, recordCapture: (step) => orderSteps.advancePaymentOrder(step) }),
    ...orderSteps,
    ...createLedgerActivities({ db, producer, topic: config.LEDGER_TOPIC }),
    ...createLedgerVerificationActivities({ db, graceMs: 60_000 }),
    ...createRefundActivities({ db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) }),
    ...moneyOutActivities(config, client, { db, pool }, (sellerId) => ledgerSignal.wakeLedger(sellerId)),
  };
  const seedFor = async (sellerId: string, token: string): Promise<PaymentOrderInput> => {
    const [order] = await seedAuthorizedPayment(db, config.PSP_BASE_URL, { token, sellers: [{ sellerId, amountMinor: 2_345n }] });
    return { ...order!, amountMinor: order!.amountMinor.toString(), backoff: { baseMs: 100, capMs: 400 }, commissionBps: 0, authExpiresAt: order!.authExpiresAt, captureSafetyMarginMs: 0, captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION };
  };
  const seed = (token: string) => seedFor(`history-${tag}`, token);
  const ctx: Context = { client, taskQueue, seed, seedFor, ledgerSettings, db, tag, afterStop: [] };
  try {
    for (const version of [values.version]) {
      const recordings = RECORDINGS.filter((r) => r.version === version && (!only || only.includes(r.name)));
      if (recordings.length === 0) continue;
      const worker = await Worker.create({ connection, taskQueue, activities, workflowsPath: version === 'v1' ? require.resolve('../test/v1-workflows') : require.resolve('../workflows') });
      const running = worker.run();
      try {
        for (const recording of recordings) {
          const handle = await recording.run(ctx);
          if (handle === undefined) continue;
          if (/^(payment-order|refund|settlement|payout)/.test(recording.name)) await ctx.client.workflow.getHandle(handle.workflowId).result();
          else if (recording.name.includes('handover')) await sleep(1_000);
          else await sleep(2_000);
          // Every run of the workflow id, oldest first: a run that continued as new and the run
          // that resumed are different paths (named -run-2, -run-3, ...).
          const runs: Array<{ runId: string; startTime: Date }> = [];
          for await (const execution of ctx.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) runs.push({ runId: execution.runId, startTime: execution.startTime });
          runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
          for (const [i, run] of runs.slice(0, 3).entries()) {
            const history = await ctx.client.workflow.getHandle(handle.workflowId, run.runId).fetchHistory();
            const file = path.join(ROOT, 'histories', `${recording.name}${i === 0 ? '' : `-run-${i + 1}`}.json`);
            writeFileSync(file, `${historyToJSON(history)}\n`);
            console.log(`record-histories: ${path.basename(file)}: ${history.events?.length ?? 0} events`);
          }
        }
      } finally {
        worker.shutdown();
        await running;
      }
      for (const step of ctx.afterStop) await step();
    }
  } finally {
    await producer.disconnect();
    await env.teardown();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
