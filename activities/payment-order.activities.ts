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

export type AdvanceInput = { transition: TransitionInput; ledgerFact?: LedgerFactPayload };

/**
 * `reportLedgerFact` delivers a fact to the seller's ledger (see ledger-signal.activities.ts).
 */
export function createPaymentOrderActivities(deps: { db: Database; reportLedgerFact: (fact: LedgerFactPayload) => Promise<void> }) {
  const recordTransition = (input: TransitionInput): Promise<TransitionResult> =>
      deps.db.transaction(async (tx) => {
        const [owner] = await tx.select({ paymentId: paymentOrders.paymentId }).from(paymentOrders).where(eq(paymentOrders.id, input.paymentOrderId));
        if (!owner) {
          throw ApplicationFailure.create({ type: 'PaymentOrderNotFound', message: `no payment order ${input.paymentOrderId}`, nonRetryable: true });
        }
        // Lock the payment first, then read the order's state under that lock.
        await tx.execute(sql`select 1 from ${payments} where ${payments.id} = ${owner.paymentId} for update`);
        const [current] = await tx.select({ status: paymentOrders.status, attempts: paymentOrders.captureAttempts }).from(paymentOrders).where(eq(paymentOrders.id, input.paymentOrderId));
        const from = current!.status as PaymentOrderStatus;
        // A retried activity re-applies the same transition: that is success, not an error.
        const alreadyApplied = from === input.to && current!.attempts === input.attempts;
        if (!alreadyApplied && !canTransition(from, input.to)) {
          throw ApplicationFailure.create({ type: ILLEGAL_TRANSITION, message: `illegal transition ${from} -> ${input.to} for ${input.paymentOrderId}`, nonRetryable: true });
        }
        if (!alreadyApplied) {
          await tx
            .update(paymentOrders)
            .set({
              status: input.to,
              captureAttempts: input.attempts,
              lastPspError: input.lastPspError ? `${input.lastPspError.code}: ${input.lastPspError.message}`.slice(0, 500) : null,
              workflowStartedAt: sql`coalesce(${paymentOrders.workflowStartedAt}, now())`,
              updatedAt: sql`now()`,
            })
            .where(eq(paymentOrders.id, input.paymentOrderId));
        }
        const siblings = await tx.select({ status: paymentOrders.status }).from(paymentOrders).where(eq(paymentOrders.paymentId, owner.paymentId));
        const paymentStatus = derivePaymentStatus(siblings.map((s) => s.status as PaymentOrderStatus));
        await tx.update(payments).set({ status: paymentStatus, updatedAt: sql`now()` }).where(eq(payments.id, owner.paymentId));
        return { applied: !alreadyApplied, paymentStatus };
      });

  return {
    /**
     * One step of a PaymentOrder: report its ledger fact (if any), then record the transition. The
     * fact goes first so that once the database says CAPTURED or CAPTURE_FAILED, the ledger already
     * has the fact. Both halves are idempotent, so a retry repeats them harmlessly.
     */
    async advancePaymentOrder(input: AdvanceInput): Promise<TransitionResult> {
      if (input.ledgerFact) await deps.reportLedgerFact(input.ledgerFact);
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
