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
import type { LedgerFactPayload, PspError } from '../workflows/contracts';
import type { AdvanceInput, TransitionResult } from './payment-order.activities';

export type CaptureInput = { paymentOrderId: string; authorizationId: string; amountMinor: string; currency: string };

/** The capture activity's answer: the PSP's outcome, or "not sent: the payment was cancelled". */
export type CaptureActivityOutcome = CaptureOutcome | { kind: 'cancelled' };

/**
 * What `captureAndRecord` records if the PSP confirms the capture: the order's attempt count and
 * last error as the workflow would write them, and the ledger facts of the step (AUTH_HOLD if not
 * reported yet, CAPTURE; the activity adds the PSP's capture id to the CAPTURE fact).
 */
export type CaptureRecord = { attempts: number; lastPspError: PspError | null; ledgerFacts: LedgerFactPayload[] };
/** `recorded`: Postgres holds CAPTURED and its facts (absent or false: the workflow records it). */
export type RecordedCaptureOutcome = Exclude<CaptureActivityOutcome, { kind: 'captured' }> | { kind: 'captured'; captureId: string; recorded?: boolean };

/** One key per PaymentOrder: every retry of its capture is the same request to the PSP. */
export const captureIdempotencyKey = (paymentOrderId: string): string => `capture:${paymentOrderId}`;
/** One key per PaymentOrder's void, likewise. */
export const voidIdempotencyKey = (paymentOrderId: string): string => `void:${paymentOrderId}`;
/** One key per refund: every retry of it is the same request to the PSP. */
export const refundIdempotencyKey = (refundId: string): string => `refund:${refundId}`;

export type RefundInput = { refundId: string; pspCaptureId: string; amountMinor: string; currency: string };

/**
 * `recordCapture` (the PaymentOrder step, payment-order.activities.ts) lets `captureAndRecord`
 * record a confirmed capture itself; without it that activity only captures.
 */
export function createPspActivities(deps: { psp: PaymentServiceProvider; db: Database; recordCapture?: (input: AdvanceInput) => Promise<TransitionResult> }) {
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
  /**
   * `recordedAnswers`: a capture Postgres already holds (a retry of `captureAndRecord` whose first
   * attempt recorded it and lost its answer) is answered from Postgres, before the cancellation
   * check and without the PSP.
   */
  const captureUnlessCancelled = async (input: CaptureInput, recordedAnswers = false): Promise<RecordedCaptureOutcome> => {
    const [row] = await deps.db
      .select({ cancelRequestedAt: paymentOrders.cancelRequestedAt, status: paymentOrders.status, pspCaptureId: paymentOrders.pspCaptureId })
      .from(paymentOrders)
      .where(eq(paymentOrders.id, input.paymentOrderId));
    if (recordedAnswers && row?.status === 'CAPTURED' && row.pspCaptureId) {
      note('capture already recorded', input.paymentOrderId, { kind: 'captured' });
      return { kind: 'captured', captureId: row.pspCaptureId, recorded: true };
    }
    if (row?.cancelRequestedAt) {
      note('capture not sent (payment cancelled)', input.paymentOrderId, { kind: 'cancelled' });
      captureOutcomes.inc({ outcome: 'cancelled', code: '' });
      return { kind: 'cancelled' };
    }
    return capture(input);
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
      return captureUnlessCancelled(input);
    },

    /**
     * The current PaymentOrder's capture (workflows started with `captureRecording`): as
     * `captureUnlessCancelled`, and a capture the PSP confirms is recorded at once - CAPTURED,
     * its ledger facts and merchant event in one transaction, then the ledger's wake-up - so no
     * workflow step follows on the happy path and Postgres knows of the capture as soon as the PSP
     * has answered. A retry of this activity captures nothing twice (same idempotency key) and
     * records nothing twice (the step is idempotent). If the recording fails (Postgres down), the
     * outcome says `recorded: false` and the workflow records it in its step, which retries
     * without limit: the PSP is not asked again.
     */
    async captureAndRecord(input: CaptureInput & { record: CaptureRecord }): Promise<RecordedCaptureOutcome> {
      const { record, ...call } = input;
      const outcome = await captureUnlessCancelled(call, true);
      if (outcome.kind !== 'captured' || outcome.recorded === true) return outcome;
      if (!deps.recordCapture) return { ...outcome, recorded: false };
      const pspCaptureId = outcome.captureId;
      try {
        await deps.recordCapture({
          transition: { paymentOrderId: call.paymentOrderId, to: 'CAPTURED', attempts: record.attempts, lastPspError: record.lastPspError, pspCaptureId },
          ledgerFacts: record.ledgerFacts.map((f) => (f.entryType === 'CAPTURE' ? { ...f, metadata: { ...f.metadata, pspCaptureId } } : f)),
        });
        return { ...outcome, recorded: true };
      } catch (err) {
        Context.current().log.warn('capture confirmed by the PSP, not recorded yet: the workflow records it', { paymentOrderId: call.paymentOrderId, pspCaptureId, error: err instanceof Error ? err.message : String(err) });
        return { ...outcome, recorded: false };
      }
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
