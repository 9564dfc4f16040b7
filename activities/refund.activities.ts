/**
 * Persistence of refund transitions. Each call is one transaction that locks the payment and the
 * refunded order (so concurrent refunds of one order succeed one after another), moves the refund
 * along `REFUND_REQUESTED -> REFUNDED | REFUND_FAILED`, and writes what the change means:
 * - REFUNDED: the order's succeeded total grows, the REFUND ledger fact (with the total refunded
 *   before it, which fixes its commission share) and the `refund.succeeded` event are written, and
 *   the payment's status is derived again (PARTIALLY_REFUNDED, REFUNDED);
 * - REFUND_FAILED: the amount reserved at request time is released (it can be refunded again) and
 *   the `refund.failed` event is written.
 * A retry of the same transition changes nothing.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { insertLedgerFacts } from '../db/ledger-facts';
import { insertMerchantEvents } from '../db/merchant-events';
import { paymentOrders, payments, refunds } from '../db/schema';
import { moneyToJson } from '../domain/money';
import { derivePaymentStatus, type PaymentOrderStatus, type RefundStatus } from '../domain/payment-status';
import type { PspError } from '../workflows/contracts';

export type RefundTransitionInput = {
  refundId: string;
  to: RefundStatus;
  attempts: number;
  lastPspError: PspError | null;
  pspRefundId?: string;
};

export const ILLEGAL_REFUND_TRANSITION = 'IllegalRefundTransition';

export function createRefundActivities(deps: { db: Database; wakeLedger: (sellerId: string) => Promise<void> }) {
  const recordTransition = (input: RefundTransitionInput) =>
    deps.db.transaction(async (tx) => {
      const [refund] = await tx.select().from(refunds).where(eq(refunds.id, input.refundId));
      if (!refund) throw ApplicationFailure.create({ type: 'RefundNotFound', message: `no refund ${input.refundId}`, nonRetryable: true });
      // Lock order: payment, then its orders (as PaymentOrder transitions do), then the refund.
      const locked = await tx.execute<{ traceparent: string | null }>(sql`select traceparent from ${payments} where id = ${refund.paymentId} for update`);
      const orders = await tx.select().from(paymentOrders).where(eq(paymentOrders.paymentId, refund.paymentId)).for('update');
      const [current] = await tx.select().from(refunds).where(eq(refunds.id, input.refundId)).for('update');
      const order = orders.find((o) => o.id === current!.paymentOrderId)!;
      const from = current!.status as RefundStatus;
      if (from === input.to && (from !== 'REFUND_REQUESTED' || current!.attempts === input.attempts)) return { applied: false, wokeLedger: false };
      if (from !== 'REFUND_REQUESTED') {
        throw ApplicationFailure.create({ type: ILLEGAL_REFUND_TRANSITION, message: `illegal refund transition ${from} -> ${input.to} for ${input.refundId}`, nonRetryable: true });
      }
      const lastPspError = input.lastPspError ? `${input.lastPspError.code}: ${input.lastPspError.message}`.slice(0, 500) : null;
      await tx
        .update(refunds)
        .set({ status: input.to, attempts: input.attempts, lastPspError, pspRefundId: input.pspRefundId ?? current!.pspRefundId, workflowStartedAt: sql`coalesce(${refunds.workflowStartedAt}, now())`, updatedAt: sql`now()` })
        .where(eq(refunds.id, input.refundId));
      if (input.to === 'REFUND_REQUESTED') return { applied: true, wokeLedger: false };

      const amount = moneyToJson({ amountMinor: refund.amountMinor, currency: refund.currency });
      const eventData = { refundId: refund.id, paymentId: refund.paymentId, paymentOrderId: refund.paymentOrderId, sellerId: refund.sellerId, amount, status: input.to, ...(input.pspRefundId ? { pspRefundId: input.pspRefundId } : {}), ...(input.to === 'REFUND_FAILED' && lastPspError ? { lastPspError: input.lastPspError } : {}) };
      if (input.to === 'REFUNDED') {
        const refundedBefore = order.refundedMinor;
        await tx.update(paymentOrders).set({ refundedMinor: sql`${paymentOrders.refundedMinor} + ${refund.amountMinor}`, updatedAt: sql`now()` }).where(eq(paymentOrders.id, order.id));
        await insertLedgerFacts(
          tx,
          [
            {
              entryType: 'REFUND',
              paymentOrderId: order.id,
              paymentId: refund.paymentId,
              sellerId: refund.sellerId,
              amountMinor: refund.amountMinor.toString(),
              currency: refund.currency,
              commissionBps: order.commissionBps,
              ...(input.pspRefundId ? { metadata: { pspRefundId: input.pspRefundId } } : {}),
              refund: { refundId: refund.id, capturedMinor: order.amountMinor.toString(), refundedBeforeMinor: refundedBefore.toString() },
            },
          ],
          locked.rows[0]?.traceparent,
        );
        const paymentStatus = derivePaymentStatus(orders.map((o) => ({ status: o.status as PaymentOrderStatus, amountMinor: o.amountMinor, refundedMinor: o.id === order.id ? o.refundedMinor + refund.amountMinor : o.refundedMinor })));
        await tx.update(payments).set({ status: paymentStatus, updatedAt: sql`now()` }).where(eq(payments.id, refund.paymentId));
        await insertMerchantEvents(tx, [{ type: 'refund.succeeded', sellerId: refund.sellerId, subjectId: refund.id, data: eventData }]);
        return { applied: true, wokeLedger: true };
      }
      // REFUND_FAILED: the reservation goes back; nothing reached the ledger.
      await tx.update(paymentOrders).set({ refundReservedMinor: sql`${paymentOrders.refundReservedMinor} - ${refund.amountMinor}`, updatedAt: sql`now()` }).where(eq(paymentOrders.id, order.id));
      await insertMerchantEvents(tx, [{ type: 'refund.failed', sellerId: refund.sellerId, subjectId: refund.id, data: eventData }]);
      return { applied: true, wokeLedger: false };
    });

  return {
    /** One step of a refund (status, attempts, last PSP error), in one transaction; then the ledger's wake-up. */
    async advanceRefund(input: RefundTransitionInput): Promise<{ applied: boolean }> {
      const result = await recordTransition(input);
      if (input.to === 'REFUNDED') {
        const [refund] = await deps.db.select({ sellerId: refunds.sellerId }).from(refunds).where(eq(refunds.id, input.refundId));
        await deps.wakeLedger(refund!.sellerId);
      }
      return { applied: result.applied };
    },
  };
}
