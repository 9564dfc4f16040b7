/**
 * Persistence of PaymentOrder transitions. Each call is one transaction that locks the payment
 * row (so sibling orders finishing at once cannot both miss each other's final status), moves the
 * order along the state machine, recomputes the payment's status from its orders, and writes the
 * ledger facts the transition produced. Postgres, not a workflow's state, holds those facts from
 * then on; the seller's ledger workflow is only woken to journal them.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { insertLedgerFacts } from '../db/ledger-facts';
import { insertMerchantEvents, type MerchantEventType } from '../db/merchant-events';
import { moneyToJson } from '../domain/money';
import { captureAttempts, paymentOrdersFinal } from '../observability/metrics';
import { paymentOrders, payments } from '../db/schema';
import {
  canTransition,
  derivePaymentStatus,
  FINAL_ORDER_STATUSES,
  type PaymentOrderStatus,
} from '../domain/payment-status';
import type { LedgerFactPayload, PspError } from '../workflows/contracts';

export type TransitionInput = {
  paymentOrderId: string;
  to: PaymentOrderStatus;
  attempts: number;
  lastPspError: PspError | null;
  /** The PSP's capture id, with the transition to CAPTURED. */
  pspCaptureId?: string;
};

/**
 * `cancelRequested`: the payment's cancellation was requested (Postgres is where it is recorded).
 * `capturedAs`: Postgres already holds this order CAPTURED (by the capture activity, whose answer
 * the workflow never got) under this PSP capture id; the step asked for changed nothing.
 */
export type TransitionResult = { applied: boolean; paymentStatus: string; cancelRequested?: boolean; capturedAs?: string };

/** The merchant event a final status announces. */
const EVENT_OF: Partial<Record<PaymentOrderStatus, MerchantEventType>> = {
  CAPTURED: 'payment_order.captured',
  CAPTURE_FAILED: 'payment_order.capture_failed',
  VOIDED: 'payment_order.voided',
};

export const ILLEGAL_TRANSITION = 'IllegalPaymentOrderTransition';

export type AdvanceInput = { transition: TransitionInput; ledgerFacts: LedgerFactPayload[] };

/**
 * `wakeLedger` tells a seller's ledger workflow that Postgres holds facts for it (a signal that
 * carries nothing the ledger needs; losing it loses nothing, the sweeper wakes the ledger later).
 */
export function createPaymentOrderActivities(deps: { db: Database; wakeLedger: (sellerId: string) => Promise<void> }) {
  // The facts and the merchant event first (idempotent inserts, keyed; what they say is fixed by
  // the input and the order's immutable columns), then lock the payment, read all its orders under
  // that lock, and update the order and the payment together. Locking means a sibling order
  // finishing at the same moment is seen in its final state, never missed; taking the lock last
  // keeps siblings of a multi-seller payment waiting for each other only for the status update,
  // not for the inserts. An illegal transition throws under the lock and rolls all of it back.
  const recordTransition = (input: TransitionInput, facts: readonly LedgerFactPayload[]): Promise<TransitionResult> =>
    deps.db.transaction(async (tx) => {
      const found = await tx.execute<{ payment_id: string; traceparent: string | null; seller_id: string; amount_minor: string; currency: string }>(
        sql`select p.id as payment_id, p.traceparent, po.seller_id, po.amount_minor::text as amount_minor, po.currency
              from ${paymentOrders} po join ${payments} p on p.id = po.payment_id where po.id = ${input.paymentOrderId}`,
      );
      const order = found.rows[0];
      if (!order) {
        throw ApplicationFailure.create({ type: 'PaymentOrderNotFound', message: `no payment order ${input.paymentOrderId}`, nonRetryable: true });
      }
      // Idempotent (the fact id is its journal entry id): a retry inserts nothing new.
      await insertLedgerFacts(tx, facts, order.traceparent);
      const eventType = EVENT_OF[input.to];
      if (eventType) {
        await insertMerchantEvents(tx, [
          {
            type: eventType,
            sellerId: order.seller_id,
            subjectId: input.paymentOrderId,
            data: {
              paymentId: order.payment_id,
              paymentOrderId: input.paymentOrderId,
              sellerId: order.seller_id,
              amount: moneyToJson({ amountMinor: BigInt(order.amount_minor), currency: order.currency.trim() }),
              status: input.to,
              ...(input.pspCaptureId ? { pspCaptureId: input.pspCaptureId } : {}),
              ...(input.to !== 'CAPTURED' && input.lastPspError ? { lastPspError: input.lastPspError } : {}),
            },
          },
        ]);
      }
      await tx.execute(sql`select 1 from ${payments} where id = ${order.payment_id} for update`);
      const orders = await tx
        .select({ id: paymentOrders.id, status: paymentOrders.status, attempts: paymentOrders.captureAttempts, amountMinor: paymentOrders.amountMinor, refundedMinor: paymentOrders.refundedMinor, cancelRequestedAt: paymentOrders.cancelRequestedAt, pspCaptureId: paymentOrders.pspCaptureId })
        .from(paymentOrders)
        .where(eq(paymentOrders.paymentId, order.payment_id));
      const current = orders.find((o) => o.id === input.paymentOrderId)!;
      const from = current.status as PaymentOrderStatus;
      // The capture activity recorded CAPTURED but the workflow never heard its answer (the
      // activity's retries ran out; its lookup failed too), so it asks for PENDING_CAPTURE: the
      // order stays CAPTURED and the workflow learns it from the answer.
      if (from === 'CAPTURED' && input.to === 'PENDING_CAPTURE') {
        const paymentStatus = derivePaymentStatus(orders.map((o) => ({ status: o.status as PaymentOrderStatus, amountMinor: o.amountMinor, refundedMinor: o.refundedMinor })));
        return { applied: false, paymentStatus, cancelRequested: current.cancelRequestedAt !== null, capturedAs: current.pspCaptureId ?? '' };
      }
      // A retried activity re-applies the same transition: that is success, not an error. So is
      // recording CAPTURED again after more attempts (the same capture: one idempotency key).
      const alreadyApplied = from === input.to && (current.attempts === input.attempts || input.to === 'CAPTURED');
      if (!alreadyApplied && !canTransition(from, input.to)) {
        throw ApplicationFailure.create({ type: ILLEGAL_TRANSITION, message: `illegal transition ${from} -> ${input.to} for ${input.paymentOrderId}`, nonRetryable: true });
      }
      const paymentStatus = derivePaymentStatus(orders.map((o) => ({ status: o.id === input.paymentOrderId ? input.to : (o.status as PaymentOrderStatus), amountMinor: o.amountMinor, refundedMinor: o.refundedMinor })));
      const lastPspError = input.lastPspError ? `${input.lastPspError.code}: ${input.lastPspError.message}`.slice(0, 500) : null;
      await tx.execute(sql`
        with order_update as (
          update ${paymentOrders}
             set status = ${input.to}, capture_attempts = ${input.attempts}, last_psp_error = ${lastPspError},
                 psp_capture_id = coalesce(${input.pspCaptureId ?? null}, psp_capture_id),
                 workflow_started_at = coalesce(workflow_started_at, now()), updated_at = now()
           where id = ${input.paymentOrderId} and ${!alreadyApplied}
        )
        update ${payments} set status = ${paymentStatus}, updated_at = now() where id = ${order.payment_id}`);
      return { applied: !alreadyApplied, paymentStatus, cancelRequested: current.cancelRequestedAt !== null };
    });

  return {
    /**
     * One step of a PaymentOrder: the transition and its ledger facts in one transaction, then a
     * wake-up for the seller's ledger. Once the database says CAPTURED, it also holds the CAPTURE
     * fact; no workflow's state is the only copy of it. A retry repeats both halves harmlessly.
     */
    async advancePaymentOrder(input: AdvanceInput): Promise<TransitionResult> {
      const result = await recordTransition(input.transition, input.ledgerFacts);
      // Not awaited: the facts are committed; the wake-up only makes the ledger prompt (a lost one
      // is made good by the sweeper), and an order's step should not wait for a hot seller's
      // signal round trips.
      if (input.ledgerFacts.length > 0) {
        const sellerId = input.ledgerFacts[0]!.sellerId;
        const log = Context.current().log;
        deps.wakeLedger(sellerId).catch((err: unknown) => {
          log.warn('ledger wake-up failed; the sweeper will wake it', { sellerId, error: err instanceof Error ? err.message : String(err) });
        });
      }
      const { to, attempts } = input.transition;
      if (result.applied && FINAL_ORDER_STATUSES.includes(to)) {
        paymentOrdersFinal.inc({ status: to, code: to === 'CAPTURED' ? '' : (input.transition.lastPspError?.code ?? '') });
        captureAttempts.observe({ status: to }, attempts);
      }
      return result;
    },
  };
}
