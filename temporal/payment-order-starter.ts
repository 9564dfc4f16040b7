/**
 * Durable acceptance: how a 202 becomes running PaymentOrder workflows, whatever crashes.
 *
 * The mechanism is a transactional outbox. The API commits the payment, its orders and the
 * completed idempotency record in one Postgres transaction; each order row carries
 * `workflow_started_at = null`, which is the outbox marker. Only after the commit does the API
 * answer 202, and then it starts the workflows itself (the fast path). The relay in every worker
 * process sweeps orders still unmarked after a short grace period and starts them (the safety
 * net). Starting is idempotent: the workflow id is derived from the paymentOrderId and a
 * duplicate start is rejected by Temporal, which the starter treats as success.
 *
 * Failure analysis:
 * - API dies before the commit: nothing is recorded and no 202 was sent. The idempotency record
 *   stays IN_FLIGHT until its lease expires; the client's retry with the same key then takes it
 *   over, reuses the same paymentId and so the same PSP authorization key - no second hold.
 * - API dies after the commit, before or after answering: the orders are unmarked; the relay
 *   starts them within OUTBOX_RELAY_MIN_AGE_MS + OUTBOX_RELAY_INTERVAL_MS. A client that did not
 *   get the answer replays the key and receives the stored 202.
 * - Temporal is down: starts fail, rows stay unmarked, the relay retries every interval.
 * - The start succeeded but marking failed (Postgres blip, crash): the relay starts again, gets
 *   "already started", and marks. The workflow's first transition also marks the row.
 * - Two relays (several workers): rows are claimed with FOR UPDATE SKIP LOCKED, so each row is
 *   handled by one relay at a time; a duplicate start would be harmless anyway.
 */
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { type SearchAttributePair, WorkflowIdReusePolicy } from '@temporalio/common';
import { and, eq, inArray, isNull, type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { paymentOrders, payments, refunds } from '../db/schema';
import type { BackoffPolicy } from '../domain/backoff';
import {
  CAPTURE_BOUNDED_BY_AUTHORIZATION,
  CAPTURE_RECORDED_BY_ACTIVITY,
  cancelPaymentOrderSignal,
  paymentOrderWorkflowId,
  refundWorkflowId,
  SA_AUTH_EXPIRES_AT,
  SA_REFUND_STATUS,
  SA_CAPTURE_ATTEMPTS,
  SA_PAYMENT_ID,
  SA_PAYMENT_ORDER_STATUS,
  SA_SELLER_ID,
  type PaymentOrderInput,
  type RefundInput,
} from '../workflows/contracts';
import type { Logger } from '../observability/logger';
import { runPeriodically } from './periodic';

export type StarterSettings = {
  taskQueue: string;
  backoff: BackoffPolicy;
  /** How long a refund's attempts go on (RefundWorkflow). */
  refundRetryWindowMs: number;
  /** Captures stop this long before the authorization expires. */
  captureSafetyMarginMs: number;
  /** Validity assumed when the PSP reported no `expiresAt`, counted from the payment's creation. */
  authValidityDefaultMs: number;
};

export type OrderToStart = {
  paymentOrderId: string;
  paymentId: string;
  sellerId: string;
  amountMinor: bigint;
  currency: string;
  pspAuthorizationId: string;
  /** When the authorization lapses, as the PSP reported it (null: it did not say). */
  authExpiresAt: Date | null;
  /** The payment's creation time, from which a default validity is counted. */
  createdAt: Date;
  /** The commission rate fixed on the order at checkout. */
  commissionBps: number;
};

/** A refund the API recorded, to run as a RefundWorkflow. */
export type RefundToStart = { refundId: string; paymentId: string; paymentOrderId: string; sellerId: string; amountMinor: bigint; currency: string; pspCaptureId: string };

/** How long after a cancel the relay keeps re-sending its signal (spaced out). */
const CANCEL_RESIGNAL_FOR_S = 3_600;

/**
 * Whether a sweep re-signals a cancel `sinceDue` seconds after it became due, when sweeps run every
 * `tickS` seconds: in the first tick, then in the tick after 1, 2, 4, 8, ... seconds - about one
 * signal per doubling (13 in an hour at 1 s ticks), evaluated by Postgres for each order.
 */
export function cancelResignalDue(sinceDue: SQL, tickS: number): SQL {
  return sql`(${sinceDue} < ${tickS} or ${sinceDue} - power(2, floor(log(2, greatest(${sinceDue}, 1)::numeric)))::float8 < ${tickS})`;
}

export function createPaymentOrderStarter(deps: { client: Client; db: Database; settings: StarterSettings; log: Logger }) {
  const { client, db, settings } = deps;

  /**
   * Starts a workflow whose id is its business key, once: a finished workflow is never run again,
   * even if a late relay tries (REJECT_DUPLICATE), and a start that finds it already started -
   * running or finished - has done its job.
   */
  async function startOnce(workflowType: string, workflowId: string, input: unknown, typedSearchAttributes: SearchAttributePair[]): Promise<void> {
    try {
      await client.workflow.start(workflowType, {
        workflowId,
        taskQueue: settings.taskQueue,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  async function startOne(order: OrderToStart): Promise<void> {
    const authExpiresAt = order.authExpiresAt ?? new Date(order.createdAt.getTime() + settings.authValidityDefaultMs);
    const input: PaymentOrderInput = {
      paymentOrderId: order.paymentOrderId,
      paymentId: order.paymentId,
      sellerId: order.sellerId,
      amountMinor: order.amountMinor.toString(),
      currency: order.currency,
      pspAuthorizationId: order.pspAuthorizationId,
      backoff: settings.backoff,
      commissionBps: order.commissionBps,
      authExpiresAt: authExpiresAt.toISOString(),
      captureSafetyMarginMs: settings.captureSafetyMarginMs,
      captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION,
      captureRecording: CAPTURE_RECORDED_BY_ACTIVITY,
    };
    await startOnce('paymentOrderWorkflow', paymentOrderWorkflowId(order.paymentOrderId), input, [
      { key: SA_PAYMENT_ORDER_STATUS, value: 'INITIATED_PENDING' },
      { key: SA_SELLER_ID, value: order.sellerId },
      { key: SA_PAYMENT_ID, value: order.paymentId },
      { key: SA_CAPTURE_ATTEMPTS, value: 0 },
      { key: SA_AUTH_EXPIRES_AT, value: authExpiresAt },
    ]);
  }

  async function startRefundOne(refund: RefundToStart): Promise<void> {
    const input: RefundInput = {
      refundId: refund.refundId,
      paymentId: refund.paymentId,
      paymentOrderId: refund.paymentOrderId,
      sellerId: refund.sellerId,
      amountMinor: refund.amountMinor.toString(),
      currency: refund.currency,
      pspCaptureId: refund.pspCaptureId,
      backoff: settings.backoff,
      retryWindowMs: settings.refundRetryWindowMs,
    };
    await startOnce('refundWorkflow', refundWorkflowId(refund.refundId), input, [
      { key: SA_REFUND_STATUS, value: 'REFUND_REQUESTED' },
      { key: SA_SELLER_ID, value: refund.sellerId },
      { key: SA_PAYMENT_ID, value: refund.paymentId },
    ]);
  }

  /** Starts each item's workflow; returns the ids of those started (or already running). */
  async function startAll<T>(items: T[], startItem: (item: T) => Promise<void>, idOf: (item: T) => string, what: string): Promise<string[]> {
    const results = await Promise.allSettled(items.map((item) => startItem(item)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') deps.log.warn({ err: r.reason as Error, id: idOf(items[i]!) }, `could not start ${what} workflow; the relay will retry`);
    });
    return items.filter((_, i) => results[i]!.status === 'fulfilled').map(idOf);
  }

  /** Starts the workflows of the given orders and marks them; returns how many started. */
  async function start(orders: OrderToStart[]): Promise<number> {
    const started = await startAll(orders, startOne, (o) => o.paymentOrderId, 'PaymentOrder');
    if (started.length > 0) {
      await db
        .update(paymentOrders)
        .set({ workflowStartedAt: sql`now()` })
        .where(and(inArray(paymentOrders.id, started), isNull(paymentOrders.workflowStartedAt)));
    }
    return started.length;
  }

  /** Starts the RefundWorkflows of the given refunds and marks them; returns how many started. */
  async function startRefunds(items: RefundToStart[]): Promise<number> {
    const started = await startAll(items, startRefundOne, (r) => r.refundId, 'Refund');
    if (started.length > 0) {
      await db.update(refunds).set({ workflowStartedAt: sql`now()` }).where(and(inArray(refunds.id, started), isNull(refunds.workflowStartedAt)));
    }
    return started.length;
  }

  /**
   * Tells these orders' workflows that the payment is cancelled. A workflow not started yet reads
   * the request from Postgres at its first step; one that misses the signal, at its next.
   */
  async function signalCancel(paymentOrderIds: string[]): Promise<void> {
    const results = await Promise.allSettled(paymentOrderIds.map((id) => client.workflow.getHandle(paymentOrderWorkflowId(id)).signal(cancelPaymentOrderSignal)));
    const failed = results.filter((r) => r.status === 'rejected' && !(r.reason instanceof WorkflowNotFoundError));
    if (failed.length > 0) throw new AggregateError(failed.map((r): unknown => (r as PromiseRejectedResult).reason), `${failed.length} cancel signal(s) failed`);
  }

  /**
   * Cancellations requested a while ago on orders still open: signalled again (harmless if
   * received), in case the API's signal was lost. Spaced out, not every sweep: at about 0, 1, 2,
   * 4, 8, ... seconds after `minAgeMs`, for an hour - a few signals per order, so a mass cancel
   * during a PSP outage does not flood the workflows (each signal is a history event and a
   * workflow task). After that an order acts on its cancel at its next step anyway: every step
   * and every capture attempt reads it from Postgres.
   */
  async function relayCancelsOnce(options: { minAgeMs: number; batchMax: number; intervalMs?: number }): Promise<number> {
    const tickS = (options.intervalMs ?? 1_000) / 1_000;
    const sinceDue = sql`(extract(epoch from (now() - ${paymentOrders.cancelRequestedAt})) - ${options.minAgeMs / 1000})`;
    const rows = await db
      .select({ id: paymentOrders.id })
      .from(paymentOrders)
      .where(
        and(
          sql`${paymentOrders.cancelRequestedAt} < now() - make_interval(secs => ${options.minAgeMs / 1000})`,
          sql`${paymentOrders.cancelRequestedAt} > now() - make_interval(secs => ${options.minAgeMs / 1000 + CANCEL_RESIGNAL_FOR_S})`,
          cancelResignalDue(sinceDue, tickS),
          inArray(paymentOrders.status, ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE']),
        ),
      )
      .limit(options.batchMax);
    if (rows.length > 0) await signalCancel(rows.map((r) => r.id));
    return rows.length;
  }

  /** One sweep of the relay: unmarked orders and refunds, and cancellations not yet acted on, older than `minAgeMs`. */
  async function relayOnce(options: { minAgeMs: number; batchMax: number; intervalMs?: number }): Promise<number> {
    return (await relayOrdersOnce(options)) + (await relayRefundsOnce(options)) + (await relayCancelsOnce(options));
  }

  async function relayRefundsOnce(options: { minAgeMs: number; batchMax: number }): Promise<number> {
    return db.transaction(async (tx) => {
      const rows = await tx
        .select({ refundId: refunds.id, paymentId: refunds.paymentId, paymentOrderId: refunds.paymentOrderId, sellerId: refunds.sellerId, amountMinor: refunds.amountMinor, currency: refunds.currency, pspCaptureId: paymentOrders.pspCaptureId })
        .from(refunds)
        .innerJoin(paymentOrders, eq(paymentOrders.id, refunds.paymentOrderId))
        .where(and(isNull(refunds.workflowStartedAt), sql`${refunds.createdAt} < now() - make_interval(secs => ${options.minAgeMs / 1000})`))
        .orderBy(refunds.createdAt)
        .limit(options.batchMax)
        .for('update', { of: refunds, skipLocked: true });
      const items = rows.filter((r): r is typeof r & { pspCaptureId: string } => r.pspCaptureId !== null);
      if (items.length === 0) return 0;
      const started = await startAll(items, startRefundOne, (r) => r.refundId, 'Refund');
      if (started.length > 0) await tx.update(refunds).set({ workflowStartedAt: sql`now()` }).where(inArray(refunds.id, started));
      deps.log.info({ started: started.length, failed: items.length - started.length }, 'outbox relay started Refund workflows');
      return started.length;
    });
  }

  async function relayOrdersOnce(options: { minAgeMs: number; batchMax: number }): Promise<number> {
    return db.transaction(async (tx) => {
      const rows = await tx
        .select({
          paymentOrderId: paymentOrders.id,
          paymentId: paymentOrders.paymentId,
          sellerId: paymentOrders.sellerId,
          amountMinor: paymentOrders.amountMinor,
          currency: paymentOrders.currency,
          commissionBps: paymentOrders.commissionBps,
          pspAuthorizationId: payments.pspAuthorizationId,
          authExpiresAt: payments.authExpiresAt,
          createdAt: payments.createdAt,
          cancelRequestedAt: paymentOrders.cancelRequestedAt,
        })
        .from(paymentOrders)
        .innerJoin(payments, eq(payments.id, paymentOrders.paymentId))
        .where(
          and(
            isNull(paymentOrders.workflowStartedAt),
            sql`${paymentOrders.status} <> 'DECLINED'`,
            sql`${paymentOrders.createdAt} < now() - make_interval(secs => ${options.minAgeMs / 1000})`,
          ),
        )
        .orderBy(paymentOrders.createdAt)
        .limit(options.batchMax)
        .for('update', { of: paymentOrders, skipLocked: true });
      const orders = rows.filter((r): r is typeof r & { pspAuthorizationId: string } => r.pspAuthorizationId !== null);
      if (orders.length === 0) return 0;
      const started = await startAll(orders, startOne, (o) => o.paymentOrderId, 'PaymentOrder');
      // Cancelled before its workflow ever ran: tell it at once, before its first capture.
      const cancelled = orders.filter((o) => o.cancelRequestedAt !== null && started.includes(o.paymentOrderId)).map((o) => o.paymentOrderId);
      if (cancelled.length > 0) await signalCancel(cancelled).catch((err: unknown) => deps.log.warn({ err }, 'cancel signals to newly started orders failed; the relay repeats them'));
      if (started.length > 0) await tx.update(paymentOrders).set({ workflowStartedAt: sql`now()` }).where(inArray(paymentOrders.id, started));
      deps.log.info({ started: started.length, failed: orders.length - started.length }, 'outbox relay started PaymentOrder workflows');
      return started.length;
    });
  }

  /** Runs the relay every `intervalMs` until the returned stop function is called. */
  function runRelay(options: { intervalMs: number; minAgeMs: number; batchMax: number }): () => Promise<void> {
    return runPeriodically(() => relayOnce(options), { intervalMs: options.intervalMs, log: deps.log, what: 'outbox relay sweep' });
  }

  return { start, startRefunds, signalCancel, relayOnce, runRelay };
}
