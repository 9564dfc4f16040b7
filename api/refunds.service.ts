/**
 * Money back: cancelling a payment before capture, and refunding a captured order.
 *
 * Refund: in one transaction, with the order's row locked, the amount is reserved on the order
 * (`refund_reserved_minor`: refunds in flight and succeeded), the refund recorded and the
 * Idempotency-Key completed; a CHECK constraint keeps the reservation within the captured amount,
 * so concurrent refunds can never together exceed it, whatever the code above does. The
 * RefundWorkflow then refunds at the PSP; a failed refund gives its reservation back.
 *
 * Cancel: each order not yet final gets `cancel_requested_at` (Postgres holds the request) and its
 * workflow a signal; the workflow voids its share at the PSP, which decides the race with a capture
 * already sent. The answer waits a few seconds for the outcomes and says which orders were voided,
 * which were captured (they need a refund) and which are still being decided.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { captureIdempotencyKey } from '../activities/psp.activities';
import type { Database } from '../db/client';
import { constraintOf } from '../db/errors';
import { paymentOrders, payments, refunds } from '../db/schema';
import { moneyToJson } from '../domain/money';
import { FINAL_ORDER_STATUSES, type PaymentOrderStatus } from '../domain/payment-status';
import type { Logger } from '../observability/logger';
import type { PaymentServiceProvider } from '../psp/psp.port';
import type { RefundToStart } from '../temporal/payment-order-starter';
import { createIdempotency, requestHash, type HttpOutcome } from './idempotency';
import { ownedRows, type ReadAccess } from './ownership';
import type { CreateRefundRequest } from './payment.validation';
import { Problem } from './problem';

export type RefundsServiceDeps = {
  db: Database;
  leaseMs: number;
  retentionS: number;
  startRefunds: (refunds: RefundToStart[]) => Promise<unknown>;
  /** Tells the workflows of these orders that the payment is cancelled (a wake-up; Postgres holds the request). */
  signalCancel: (paymentOrderIds: string[]) => Promise<unknown>;
  /** How long a cancel waits for the orders' outcomes before answering. */
  cancelWaitMs: number;
  /** Finds the capture id of an order captured before capture ids were stored. */
  psp: Pick<PaymentServiceProvider, 'lookupCapture'>;
  log: Logger;
};

type RefundRow = typeof refunds.$inferSelect;

export function refundJson(r: RefundRow) {
  return {
    refundId: r.id,
    paymentId: r.paymentId,
    paymentOrderId: r.paymentOrderId,
    sellerId: r.sellerId,
    amount: moneyToJson({ amountMinor: r.amountMinor, currency: r.currency }),
    status: r.status,
    ...(r.reason ? { reason: r.reason } : {}),
    attempts: r.attempts,
    lastPspError: r.lastPspError,
    pspRefundId: r.pspRefundId,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

const OPEN: readonly PaymentOrderStatus[] = ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE'];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createRefundsService(deps: RefundsServiceDeps) {
  const { db } = deps;
  const idempotency = createIdempotency({ db, leaseMs: deps.leaseMs, retentionS: deps.retentionS });

  /**
   * Orders captured before the release that stores capture ids (or by a workflow of that release
   * still running) have none: ask the PSP by the capture's idempotency key, once, and keep it.
   */
  async function fillMissingCaptureId(paymentId: string, paymentOrderId: string): Promise<void> {
    const [order] = await db.select({ status: paymentOrders.status, pspCaptureId: paymentOrders.pspCaptureId }).from(paymentOrders).where(and(eq(paymentOrders.id, paymentOrderId), eq(paymentOrders.paymentId, paymentId)));
    if (!order || order.status !== 'CAPTURED' || order.pspCaptureId !== null) return;
    let found: Awaited<ReturnType<PaymentServiceProvider['lookupCapture']>>;
    try {
      found = await deps.psp.lookupCapture({ idempotencyKey: captureIdempotencyKey(paymentOrderId) });
    } catch (err) {
      deps.log.warn({ err, paymentOrderId }, 'capture id lookup failed');
      throw new Problem(503, 'psp-unavailable', 'Payment provider unavailable', 'The order was captured before capture ids were stored, and the payment provider did not answer when asked for it. Try again later; nothing was recorded.');
    }
    if (found.kind !== 'captured') {
      deps.log.error({ paymentOrderId, outcome: found.kind }, 'a CAPTURED order has no capture at the PSP');
      throw new Problem(409, 'capture-not-found', 'Capture not found at the payment provider', 'This order is CAPTURED here, but the payment provider holds no capture for it; it cannot be refunded until an operator reconciles it.');
    }
    await db.update(paymentOrders).set({ pspCaptureId: found.captureId }).where(and(eq(paymentOrders.id, paymentOrderId), isNull(paymentOrders.pspCaptureId)));
  }

  async function requestRefund(cmd: { principal: string; idempotencyKey: string; paymentId: string; body: CreateRefundRequest }): Promise<HttpOutcome> {
    if (UUID.test(cmd.body.paymentOrderId) && UUID.test(cmd.paymentId)) await fillMissingCaptureId(cmd.paymentId.toLowerCase(), cmd.body.paymentOrderId.toLowerCase());
    const command = {
      principal: cmd.principal,
      key: cmd.idempotencyKey,
      hash: requestHash({ operation: 'refund', paymentId: cmd.paymentId, body: cmd.body }),
      paymentId: cmd.paymentId,
      locationOf: (status: number, body: Record<string, unknown>) => (status === 202 ? `/api/v1/refunds/${String(body.refundId)}` : undefined),
      onFailure: 'forget' as const,
    };
    let toStart: RefundToStart | undefined;
    const outcome = await idempotency.run(command, () =>
      db.transaction(async (tx) => {
        const [payment] = await tx.select({ id: payments.id }).from(payments).where(eq(payments.id, cmd.paymentId)).for('update');
        if (!payment) throw new Problem(404, 'not-found', 'Payment not found', 'No payment has this id.');
        const [order] = await tx.select().from(paymentOrders).where(eq(paymentOrders.id, cmd.body.paymentOrderId.toLowerCase())).for('update');
        if (!order || order.paymentId !== payment.id) {
          throw new Problem(404, 'payment-order-not-found', 'Payment order not found', 'This payment has no order with this paymentOrderId.', { errors: [{ pointer: '/paymentOrderId', detail: 'is not an order of this payment' }] });
        }
        if (order.currency !== cmd.body.amount.currency) {
          throw new Problem(400, 'invalid-request', 'Invalid request', `The order was captured in ${order.currency}; a refund is in the same currency.`, { errors: [{ pointer: '/amount/currency', detail: `must be ${order.currency}, the currency of the order` }] });
        }
        if (order.status !== 'CAPTURED' || order.pspCaptureId === null) {
          throw new Problem(409, 'payment-order-not-captured', 'Payment order not captured', `Only a captured order can be refunded; this one is ${order.status}.`, { paymentOrderStatus: order.status });
        }
        const amountMinor = BigInt(cmd.body.amount.quantity);
        const refundable = order.amountMinor - order.refundReservedMinor;
        if (amountMinor > refundable) {
          throw new Problem(422, 'refund-exceeds-captured', 'Refund exceeds what can be refunded', `The order captured ${order.amountMinor} ${order.currency}; refunds requested or made already take ${order.refundReservedMinor}, so at most ${refundable} can be refunded.`, {
            refundableAmount: { quantity: Number(refundable), currency: order.currency },
          });
        }
        // The row is locked; the CHECK constraint refuses an over-reservation even if it were not.
        await tx
          .update(paymentOrders)
          .set({ refundReservedMinor: sql`${paymentOrders.refundReservedMinor} + ${amountMinor}`, updatedAt: sql`now()` })
          .where(eq(paymentOrders.id, order.id))
          .catch((err: unknown) => {
            if (constraintOf(err) !== 'payment_orders_refunds_within_amount') throw err;
            throw new Problem(422, 'refund-exceeds-captured', 'Refund exceeds what can be refunded', 'Refunds requested at the same moment already take what this one asks for.');
          });
        const refundId = randomUUID();
        const [row] = await tx
          .insert(refunds)
          .values({ id: refundId, paymentId: payment.id, paymentOrderId: order.id, sellerId: order.sellerId, amountMinor, currency: order.currency, status: 'REFUND_REQUESTED', reason: cmd.body.reason ?? null })
          .returning();
        const result: HttpOutcome = { status: 202, replayed: false, location: `/api/v1/refunds/${refundId}`, body: refundJson(row!) };
        await idempotency.complete(tx, command, payment.id, result);
        toStart = { refundId, paymentId: payment.id, paymentOrderId: order.id, sellerId: order.sellerId, amountMinor, currency: order.currency, pspCaptureId: order.pspCaptureId };
        return result;
      }),
    );
    if (toStart) {
      // Not awaited: the 202 does not wait for Temporal; the relay starts what this misses.
      deps.startRefunds([toStart]).catch((err: unknown) => deps.log.warn({ err, refundId: toStart!.refundId }, 'fast-path refund start failed; the relay will start it'));
    }
    return outcome;
  }

  async function getRefund(refundId: string, access: ReadAccess) {
    const [row] = await db.select().from(refunds).where(eq(refunds.id, refundId));
    if (!row) return undefined;
    const visible = ownedRows(access, [row]);
    return visible ? refundJson(row) : undefined;
  }

  /** The refunds of a payment's orders, for the payment view. */
  async function refundsOfPayment(paymentId: string): Promise<RefundRow[]> {
    return db.select().from(refunds).where(eq(refunds.paymentId, paymentId)).orderBy(asc(refunds.createdAt));
  }

  async function cancelPayment(cmd: { principal: string; idempotencyKey: string; paymentId: string; view: (paymentId: string) => Promise<Record<string, unknown> | undefined> }): Promise<HttpOutcome> {
    const command = {
      principal: cmd.principal,
      key: cmd.idempotencyKey,
      hash: requestHash({ operation: 'cancel', paymentId: cmd.paymentId }),
      paymentId: cmd.paymentId,
      locationOf: (status: number) => (status === 202 ? `/api/v1/payments/${cmd.paymentId}` : undefined),
      onFailure: 'forget' as const,
    };
    return idempotency.run(command, async () => {
      // 1. Record the request (idempotent: a takeover after a crash repeats it harmlessly).
      const requested = await db.transaction(async (tx) => {
        const [payment] = await tx.select({ id: payments.id }).from(payments).where(eq(payments.id, cmd.paymentId)).for('update');
        if (!payment) throw new Problem(404, 'not-found', 'Payment not found', 'No payment has this id.');
        const orders = await tx.select({ id: paymentOrders.id, status: paymentOrders.status, cancelRequestedAt: paymentOrders.cancelRequestedAt }).from(paymentOrders).where(eq(paymentOrders.paymentId, payment.id));
        const open = orders.filter((o) => OPEN.includes(o.status as PaymentOrderStatus)).map((o) => o.id);
        if (open.length === 0) {
          throw new Problem(409, 'nothing-to-cancel', 'Nothing left to cancel', 'Every order of this payment is already final; captured orders need refunds.');
        }
        await tx.update(paymentOrders).set({ cancelRequestedAt: sql`now()` }).where(and(inArray(paymentOrders.id, open), isNull(paymentOrders.cancelRequestedAt)));
        return open;
      });
      // 2. Wake the workflows; 3. wait (bounded) for the PSP to decide.
      await deps.signalCancel(requested).catch((err: unknown) => deps.log.warn({ err, paymentId: cmd.paymentId }, 'cancel signals failed; the relay repeats them'));
      const deadline = Date.now() + deps.cancelWaitMs;
      let statuses = new Map<string, PaymentOrderStatus>();
      for (;;) {
        const rows = await db.select({ id: paymentOrders.id, status: paymentOrders.status }).from(paymentOrders).where(inArray(paymentOrders.id, requested));
        statuses = new Map(rows.map((r) => [r.id, r.status as PaymentOrderStatus]));
        if ([...statuses.values()].every((s) => FINAL_ORDER_STATUSES.includes(s)) || Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // 4. Answer with what is known now, and record that answer for replays.
      return db.transaction(async (tx) => {
        const ids = (status: (s: PaymentOrderStatus) => boolean) => requested.filter((id) => status(statuses.get(id)!));
        const payment = await cmd.view(cmd.paymentId);
        const result: HttpOutcome = {
          status: 202,
          replayed: false,
          location: `/api/v1/payments/${cmd.paymentId}`,
          body: {
            ...payment,
            cancellation: {
              voided: ids((s) => s === 'VOIDED'),
              captured: ids((s) => s === 'CAPTURED'),
              failed: ids((s) => s === 'CAPTURE_FAILED'),
              pending: ids((s) => !FINAL_ORDER_STATUSES.includes(s)),
            },
          },
        };
        await idempotency.complete(tx, command, cmd.paymentId, result);
        return result;
      });
    });
  }

  return { requestRefund, getRefund, refundsOfPayment, cancelPayment };
}
