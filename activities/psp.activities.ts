/**
 * PSP activities: a thin adapter from the workflow to the PSP port. Outcomes are returned as
 * values (the workflow decides about retries, lookups, voids and jitter); only an unexpected crash
 * of the activity itself is left to Temporal's retry policy.
 */
import { Context } from '@temporalio/activity';
import type { CaptureLookup, CaptureOutcome, PaymentServiceProvider, RefundLookup, RefundOutcome, VoidOutcome } from '../psp/psp.port';
import { eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { paymentOrders } from '../db/schema';
import { parseMinor } from '../domain/money';
import { captureOutcomes, voidOutcomes } from '../observability/metrics';

export type CaptureInput = { paymentOrderId: string; authorizationId: string; amountMinor: string; currency: string };

/** The capture activity's answer: the PSP's outcome, or "not sent: the payment was cancelled". */
export type CaptureActivityOutcome = CaptureOutcome | { kind: 'cancelled' };

/** One key per PaymentOrder: every retry of its capture is the same request to the PSP. */
export const captureIdempotencyKey = (paymentOrderId: string): string => `capture:${paymentOrderId}`;
/** One key per PaymentOrder's void, likewise. */
export const voidIdempotencyKey = (paymentOrderId: string): string => `void:${paymentOrderId}`;
/** One key per refund: every retry of it is the same request to the PSP. */
export const refundIdempotencyKey = (refundId: string): string => `refund:${refundId}`;

export type RefundInput = { refundId: string; pspCaptureId: string; amountMinor: string; currency: string };

export function createPspActivities(deps: { psp: PaymentServiceProvider; db: Database }) {
  const note = (operation: string, subjectId: string, outcome: { kind: string; code?: string }): void => {
    Context.current().log.debug(`psp ${operation}`, { subjectId, outcome: outcome.kind, code: outcome.code });
  };
  const capture = async (input: CaptureInput): Promise<CaptureOutcome> => {
    const outcome = await deps.psp.capture({
      idempotencyKey: captureIdempotencyKey(input.paymentOrderId),
      authorizationId: input.authorizationId,
      amountMinor: parseMinor(input.amountMinor),
      currency: input.currency,
      reference: input.paymentOrderId,
    });
    note('capture', input.paymentOrderId, outcome);
    captureOutcomes.inc({ outcome: outcome.kind, code: outcome.kind === 'captured' ? '' : outcome.code });
    return outcome;
  };
  return {
    async capturePayment(input: CaptureInput): Promise<CaptureOutcome> {
      return capture(input);
    },

    /**
     * The current PaymentOrder's capture: reads the order's cancellation in Postgres first and, if
     * the payment was cancelled, answers `cancelled` without calling the PSP. Closes the window in
     * which a cancel arrives while the workflow task that schedules the capture is running (the
     * signal lands after the capture was scheduled). `capturePayment` stays as it was for
     * workflows of the previous release, which know no such outcome.
     */
    async captureUnlessCancelled(input: CaptureInput): Promise<CaptureActivityOutcome> {
      {
        const [row] = await deps.db.select({ cancelRequestedAt: paymentOrders.cancelRequestedAt }).from(paymentOrders).where(eq(paymentOrders.id, input.paymentOrderId));
        if (row?.cancelRequestedAt) {
          note('capture not sent (payment cancelled)', input.paymentOrderId, { kind: 'cancelled' });
          captureOutcomes.inc({ outcome: 'cancelled', code: '' });
          return { kind: 'cancelled' };
        }
      }
      return capture(input);
    },

    /** Asks the PSP whether this PaymentOrder's capture happened (after an unknown outcome). */
    async lookupCapture(input: { paymentOrderId: string }): Promise<CaptureLookup> {
      const outcome = await deps.psp.lookupCapture({ idempotencyKey: captureIdempotencyKey(input.paymentOrderId) });
      note('capture lookup', input.paymentOrderId, outcome);
      return outcome;
    },

    /** Releases this PaymentOrder's share of the authorization; the PSP decides a race with its capture. */
    async voidAuthorization(input: CaptureInput): Promise<VoidOutcome> {
      const outcome = await deps.psp.voidAuthorization({
        idempotencyKey: voidIdempotencyKey(input.paymentOrderId),
        authorizationId: input.authorizationId,
        amountMinor: parseMinor(input.amountMinor),
        currency: input.currency,
        reference: input.paymentOrderId,
      });
      note('void', input.paymentOrderId, outcome);
      voidOutcomes.inc({ outcome: outcome.kind, code: 'code' in outcome ? outcome.code : '' });
      return outcome;
    },

    async refundPayment(input: RefundInput): Promise<RefundOutcome> {
      const outcome = await deps.psp.refund({ idempotencyKey: refundIdempotencyKey(input.refundId), captureId: input.pspCaptureId, amountMinor: parseMinor(input.amountMinor), currency: input.currency, reference: input.refundId });
      note('refund', input.refundId, outcome);
      return outcome;
    },

    /** Asks the PSP whether this refund happened (after an unknown outcome). */
    async lookupRefund(input: { refundId: string }): Promise<RefundLookup> {
      const outcome = await deps.psp.lookupRefund({ idempotencyKey: refundIdempotencyKey(input.refundId) });
      note('refund lookup', input.refundId, outcome);
      return outcome;
    },
  };
}
