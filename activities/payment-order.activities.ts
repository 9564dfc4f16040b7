/**
 * Persistence of PaymentOrder transitions. Each call is one transaction that locks the payment
 * row (so sibling orders finishing at once cannot both miss each other's final status), moves the
 * order along the state machine, and recomputes the payment's status from its orders.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { captureAttempts, paymentOrdersFinal } from '../observability/metrics';
import { paymentOrders, payments } from '../db/schema';
import {
  canTransition,
  derivePaymentStatus,
  type PaymentOrderStatus,
} from '../domain/payment-status';
import type { LedgerFactPayload, PspError } from '../workflows/contracts';

export type TransitionInput = {
  paymentOrderId: string;
  to: PaymentOrderStatus;
  attempts: number;
  lastPspError: PspError | null;
};

export type TransitionResult = { applied: boolean; paymentStatus: string };

export const ILLEGAL_TRANSITION = 'IllegalPaymentOrderTransition';

export type AdvanceInput = { transition: TransitionInput; ledgerFacts: LedgerFactPayload[] };

/**
 * `reportLedgerFacts` delivers facts to the seller's ledger in one signal (see ledger-signal.activities.ts).
 */
export function createPaymentOrderActivities(deps: { db: Database; reportLedgerFacts: (facts: LedgerFactPayload[]) => Promise<void> }) {
  // Three statements in one transaction: lock the payment (found through the order), read all its
  // orders under that lock, then update the order and the payment together. Locking first means a
  // sibling order finishing at the same moment is seen in its final state, never missed.
  const recordTransition = (input: TransitionInput): Promise<TransitionResult> =>
    deps.db.transaction(async (tx) => {
      const locked = await tx.execute<{ id: string }>(
        sql`select ${payments.id} as id from ${payments} where ${payments.id} = (select ${paymentOrders.paymentId} from ${paymentOrders} where ${paymentOrders.id} = ${input.paymentOrderId}) for update`,
      );
      const paymentId = locked.rows[0]?.id;
      if (!paymentId) {
        throw ApplicationFailure.create({ type: 'PaymentOrderNotFound', message: `no payment order ${input.paymentOrderId}`, nonRetryable: true });
      }
      const orders = await tx.select({ id: paymentOrders.id, status: paymentOrders.status, attempts: paymentOrders.captureAttempts }).from(paymentOrders).where(eq(paymentOrders.paymentId, paymentId));
      const current = orders.find((o) => o.id === input.paymentOrderId)!;
      const from = current.status as PaymentOrderStatus;
      // A retried activity re-applies the same transition: that is success, not an error.
      const alreadyApplied = from === input.to && current.attempts === input.attempts;
      if (!alreadyApplied && !canTransition(from, input.to)) {
        throw ApplicationFailure.create({ type: ILLEGAL_TRANSITION, message: `illegal transition ${from} -> ${input.to} for ${input.paymentOrderId}`, nonRetryable: true });
      }
      const paymentStatus = derivePaymentStatus(orders.map((o) => (o.id === input.paymentOrderId ? input.to : (o.status as PaymentOrderStatus))));
      const lastPspError = input.lastPspError ? `${input.lastPspError.code}: ${input.lastPspError.message}`.slice(0, 500) : null;
      await tx.execute(sql`
        with order_update as (
          update ${paymentOrders}
             set status = ${input.to}, capture_attempts = ${input.attempts}, last_psp_error = ${lastPspError},
                 workflow_started_at = coalesce(workflow_started_at, now()), updated_at = now()
           where id = ${input.paymentOrderId} and ${!alreadyApplied}
        )
        update ${payments} set status = ${paymentStatus}, updated_at = now() where id = ${paymentId}`);
      return { applied: !alreadyApplied, paymentStatus };
    });

  return {
    /**
     * One step of a PaymentOrder: report its ledger fact (if any), then record the transition. The
     * fact goes first so that once the database says CAPTURED or CAPTURE_FAILED, the ledger already
     * has the fact. Both halves are idempotent, so a retry repeats them harmlessly.
     */
    async advancePaymentOrder(input: AdvanceInput): Promise<TransitionResult> {
      if (input.ledgerFacts.length > 0) await deps.reportLedgerFacts(input.ledgerFacts);
      const result = await recordTransition(input.transition);
      const { to, attempts } = input.transition;
      if (result.applied && (to === 'CAPTURED' || to === 'CAPTURE_FAILED')) {
        paymentOrdersFinal.inc({ status: to });
        captureAttempts.observe({ status: to }, attempts);
      }
      return result;
    },
  };
}
