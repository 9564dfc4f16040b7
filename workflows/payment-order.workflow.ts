/**
 * PaymentOrder workflow: one seller's leg of a payment, from authorization hold to CAPTURED or
 * CAPTURE_FAILED.
 *
 * The retry budget is time, not a count: retryable and unknown capture outcomes are retried with
 * equal-jitter exponential backoff (a durable timer in workflow code; workflow Math.random is
 * replay-safe) until `authExpiresAt - captureSafetyMarginMs`. A PSP outage of minutes or hours
 * therefore never fails a sale.
 *
 * Unknown is not failed: an unknown outcome (timeout, connection lost after sending) is resolved
 * at once by asking the PSP (lookup by idempotency key); if the PSP cannot say, the capture is
 * retried later with the same key, which can never capture twice.
 *
 * The order ends CAPTURE_FAILED only through a void of its share of the authorization, and the
 * PSP decides the void: "already captured" makes the order CAPTURED; "voided" or "authorization
 * expired" make it CAPTURE_FAILED with AUTH_RELEASE; anything else is retried. So the order never
 * ends CAPTURE_FAILED (nor posts AUTH_RELEASE) while the PSP holds a capture for it.
 *
 * A capture that retries for days keeps its history short with continue-as-new (when the server
 * suggests it, between attempts), carrying its attempts, last error and unknown-outcome count.
 *
 * Cancellation (`cancelPaymentOrder`, recorded in Postgres): the order stops retrying - a capture
 * already sent is waited for, never taken back - and voids its share; the PSP decides the race:
 * captured first means CAPTURED (the payment then needs a refund), voided means VOIDED with
 * AUTH_RELEASE.
 *
 * Workflows started before this version have no `captureModel` in their input and finish on the
 * old code (payment-order.legacy.ts).
 */
import {
  ActivityFailure,
  condition,
  continueAsNew,
  log,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { equalJitterDelayMs } from '../domain/backoff';
import type { PaymentOrderStatus } from '../domain/payment-status';
import type { EntryType } from '../ledger/journal';
import type { RecordedCaptureOutcome } from '../activities/psp.activities';
import type { VoidOutcome } from '../psp/psp.port';
import {
  CAPTURE_BOUNDED_BY_AUTHORIZATION,
  CAPTURE_RECORDED_BY_ACTIVITY,
  cancelPaymentOrderSignal,
  paymentOrderStateQuery,
  paymentOrderStatusAttributes,
  type LedgerFactPayload,
  type PaymentOrderInput,
  type PaymentOrderView,
  type PspError,
} from './contracts';
import { legacyPaymentOrderWorkflow } from './payment-order.legacy';
import { psp, steps } from './payment-order.proxies';

/** The patch that marks workflows started with a time-bounded capture budget. */

/** Our own last error when the budget ran out before the PSP refused anything. */
export const CAPTURE_WINDOW_CLOSED = 'CAPTURE_WINDOW_CLOSED';

/** Used only if a workflow was started without `authExpiresAt` (it never is): the PSP's default validity. */
const FALLBACK_AUTH_VALIDITY_MS = 7 * 24 * 3600 * 1000;
const RETRY_DELAYS_KEPT = 20;

export async function paymentOrderWorkflow(input: PaymentOrderInput): Promise<PaymentOrderView> {
  if (input.captureModel !== CAPTURE_BOUNDED_BY_AUTHORIZATION) return legacyPaymentOrderWorkflow(input);
  return captureWithinAuthorization(input);
}

async function captureWithinAuthorization(input: PaymentOrderInput): Promise<PaymentOrderView> {
  const authExpiresAtMs = input.authExpiresAt !== undefined ? Date.parse(input.authExpiresAt) : workflowInfo().startTime.getTime() + FALLBACK_AUTH_VALIDITY_MS;
  const deadlineMs = authExpiresAtMs - (input.captureSafetyMarginMs ?? 0);
  const resume = input.resume;
  const view: PaymentOrderView = {
    paymentOrderId: input.paymentOrderId,
    status: resume?.status ?? 'INITIATED_PENDING',
    attempts: resume?.attempts ?? 0,
    lastPspError: resume?.lastPspError ?? null,
    retryDelaysMs: [],
    unknownOutcomes: resume?.unknownOutcomes ?? 0,
    authExpiresAt: new Date(authExpiresAtMs).toISOString(),
    captureDeadline: new Date(deadlineMs).toISOString(),
    nextAttemptAt: null,
  };
  setHandler(paymentOrderStateQuery, () => view);
  // Cancellation: Postgres records it (every step reads it back); the signal only makes it prompt.
  let cancelRequested = resume?.cancelRequested ?? false;
  setHandler(cancelPaymentOrderSignal, () => {
    cancelRequested = true;
  });

  // The AUTH_HOLD fact travels with the first outcome (one ledger wake-up per order on the happy
  // path).
  let holdReported = resume?.holdReported ?? false;
  // A confirmed capture is recorded by the capture activity itself (no step on the happy path).
  const recordsInCapture = input.captureRecording === CAPTURE_RECORDED_BY_ACTIVITY;
  const callArgs = { paymentOrderId: input.paymentOrderId, authorizationId: input.pspAuthorizationId, amountMinor: input.amountMinor, currency: input.currency };

  /** The ledger facts of a step: AUTH_HOLD if not reported yet, then `fact`. */
  const factsOf = (fact?: EntryType, pspCaptureId?: string): LedgerFactPayload[] => {
    const entryTypes: EntryType[] = holdReported ? [] : ['AUTH_HOLD'];
    if (fact) entryTypes.push(fact);
    return entryTypes.map((entryType) => ({
      entryType,
      paymentOrderId: input.paymentOrderId,
      paymentId: input.paymentId,
      sellerId: input.sellerId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      commissionBps: input.commissionBps,
      ...(entryType === 'CAPTURE' && pspCaptureId ? { metadata: { pspCaptureId } } : {}),
    }));
  };

  /** Sets the search attributes of status `to` (with the view's attempts and `lastPspError`). */
  const showStatus = (to: PaymentOrderStatus, lastPspError: PspError | null) => {
    view.status = to;
    view.lastPspError = lastPspError;
    upsertSearchAttributes(paymentOrderStatusAttributes(to, view.attempts, lastPspError));
  };

  /** Moves to `to` (search attributes, query state, database + ledger facts in one transaction). */
  const transition = async (to: PaymentOrderStatus, lastPspError: PspError | null, fact?: EntryType, pspCaptureId?: string) => {
    showStatus(to, lastPspError);
    const ledgerFacts = factsOf(fact, pspCaptureId);
    holdReported = true;
    const result = await steps.advancePaymentOrder({ transition: { paymentOrderId: input.paymentOrderId, to, attempts: view.attempts, lastPspError, ...(pspCaptureId ? { pspCaptureId } : {}) }, ledgerFacts });
    if (result.cancelRequested === true) cancelRequested = true;
    return result;
  };

  /** `recorded`: the capture activity already recorded CAPTURED and its facts in Postgres. */
  const captured = async (captureId: string, recorded = false) => {
    view.pspCaptureId = captureId;
    view.nextAttemptAt = null;
    if (recorded) {
      holdReported = true;
      showStatus('CAPTURED', view.lastPspError);
    } else {
      await transition('CAPTURED', view.lastPspError, 'CAPTURE', captureId);
    }
    return view;
  };

  /**
   * Waits `delayMs` before the next PSP call (a cancellation ends the wait of a capture retry, not
   * of a void retry), then continues as new if the server suggests it.
   */
  const pause = async (delayMs: number, untilCancelled: boolean) => {
    view.retryDelaysMs.push(delayMs);
    if (view.retryDelaysMs.length > RETRY_DELAYS_KEPT) view.retryDelaysMs.shift();
    view.nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
    if (delayMs > 0 && untilCancelled) await condition(() => cancelRequested, delayMs);
    else if (delayMs > 0) await sleep(delayMs);
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof paymentOrderWorkflow>({
        ...input,
        resume: { status: view.status, attempts: view.attempts, lastPspError: view.lastPspError, unknownOutcomes: view.unknownOutcomes ?? 0, holdReported, cancelRequested },
      });
    }
  };

  /** One capture attempt; an unknown outcome is looked up at once. */
  const attemptCapture = async (): Promise<RecordedCaptureOutcome> => {
    let outcome: RecordedCaptureOutcome;
    try {
      outcome = recordsInCapture
        ? await psp.captureAndRecord({ ...callArgs, record: { attempts: view.attempts + 1, lastPspError: view.lastPspError, ledgerFacts: factsOf('CAPTURE') } })
        : await psp.captureUnlessCancelled(callArgs);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      outcome = { kind: 'unknown', code: 'CAPTURE_ACTIVITY_FAILED', message: err.cause?.message ?? err.message };
    }
    if (outcome.kind !== 'unknown') return outcome;
    view.unknownOutcomes = (view.unknownOutcomes ?? 0) + 1;
    try {
      const found = await psp.lookupCapture({ paymentOrderId: input.paymentOrderId });
      if (found.kind === 'captured') return { kind: 'captured', captureId: found.captureId };
      // The PSP holds no capture under the key: as good as a refusal to capture, for now. A
      // capture still in flight at the PSP is harmless: the retry uses the same key.
      if (found.kind === 'not_found') return { kind: 'retryable', code: outcome.code, message: `${outcome.message}; the PSP holds no capture for this key` };
      if (found.kind === 'rejected') return found;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
    return outcome;
  };

  /**
   * The only way to CAPTURE_FAILED (or, when the payment is cancelled, VOIDED): void this order's
   * share and let the PSP decide. Retried until the PSP gives a definitive answer.
   */
  const failThroughVoid = async (reason: PspError, ending: 'CAPTURE_FAILED' | 'VOIDED' = 'CAPTURE_FAILED'): Promise<PaymentOrderView> => {
    view.nextAttemptAt = null;
    for (let voidAttempt = 1; ; voidAttempt++) {
      let outcome: VoidOutcome;
      try {
        outcome = await psp.voidAuthorization(callArgs);
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        outcome = { kind: 'unknown', code: 'VOID_ACTIVITY_FAILED', message: err.cause?.message ?? err.message };
      }
      if (outcome.kind === 'already_captured') return captured(outcome.captureId);
      if (outcome.kind === 'voided' || outcome.kind === 'expired') {
        if (ending === 'VOIDED') log.info('payment order voided (payment cancelled)', { paymentOrderId: input.paymentOrderId, attempts: view.attempts });
        else log.warn('capture failed; authorization share released', { paymentOrderId: input.paymentOrderId, code: reason.code, attempts: view.attempts });
        await transition(ending, ending === 'VOIDED' ? view.lastPspError : reason, 'AUTH_RELEASE');
        return view;
      }
      if (outcome.kind === 'rejected') {
        // The PSP refuses the void itself (e.g. it does not know the authorization): ask it
        // whether the capture exists; only "no capture" lets the order fail.
        try {
          const found = await psp.lookupCapture({ paymentOrderId: input.paymentOrderId });
          if (found.kind === 'captured') return captured(found.captureId);
          if (found.kind === 'not_found' || found.kind === 'rejected') {
            await transition(ending, ending === 'VOIDED' ? view.lastPspError : reason, 'AUTH_RELEASE');
            return view;
          }
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
        }
      }
      log.info('void not confirmed yet; retrying', { paymentOrderId: input.paymentOrderId, outcome: outcome.kind, voidAttempt });
      await pause(equalJitterDelayMs(voidAttempt, input.backoff, Math.random), false);
    }
  };

  // No step before the first capture: the order goes from INITIATED_PENDING straight to the first
  // outcome (one database transaction and one search-attribute update fewer per order).
  for (;;) {
    if (cancelRequested) return failThroughVoid({ code: 'CANCELLED', message: 'the payment was cancelled' }, 'VOIDED');
    if (Date.now() >= deadlineMs) {
      const last = view.lastPspError ? `; last PSP error ${view.lastPspError.code}: ${view.lastPspError.message}` : '';
      return failThroughVoid({ code: CAPTURE_WINDOW_CLOSED, message: `no capture before the authorization's expiry (${view.authExpiresAt}) minus the safety margin${last}`.slice(0, 400) });
    }
    const outcome = await attemptCapture();
    if (outcome.kind === 'cancelled') {
      // Not sent: Postgres says the payment was cancelled (its signal may still be on its way).
      cancelRequested = true;
      continue;
    }
    view.attempts += 1;
    if (outcome.kind === 'captured') return captured(outcome.captureId, outcome.recorded === true);
    const error = { code: outcome.code, message: outcome.message };
    if (outcome.kind === 'rejected') {
      log.warn('capture rejected by the PSP', { paymentOrderId: input.paymentOrderId, code: outcome.code, attempt: view.attempts });
      return failThroughVoid(error);
    }
    const step = await transition('PENDING_CAPTURE', error);
    // Postgres says CAPTURED: the capture activity recorded it and its answer was lost.
    if (step.capturedAs !== undefined) return captured(step.capturedAs, true);
    const delayMs = Math.min(equalJitterDelayMs(view.attempts, input.backoff, Math.random), Math.max(deadlineMs - Date.now(), 0));
    await pause(delayMs, true);
  }
}
