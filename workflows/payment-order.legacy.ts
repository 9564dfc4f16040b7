/**
 * The PaymentOrder workflow as it was before captures were bounded by the authorization's
 * validity (a fixed number of attempts). Workflows started by that version replay and finish on
 * this code, command for command; `paymentOrderWorkflow` sends them here when their input has no
 * `captureModel`. Delete it once no such workflow is open: `npm run -s stuck -- --older-than 0s` lists open PaymentOrders.
 *
 * One exception to "finish on this code": a run whose attempts run out live on this version does
 * not fail (its last outcome may have been a capture whose reply was lost); it continues as new on
 * the current code, which looks the capture up and fails only through a void the PSP confirms.
 *
 * Two adaptations to the current activities, neither of which changes a command: the capture
 * activity now answers `rejected` where it answered `failed`, and may answer `unknown`, which this
 * code retries like a retryable outcome, as it did with timeouts.
 */
import {
  ActivityFailure,
  continueAsNew,
  log,
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { equalJitterDelayMs } from '../domain/backoff';
import type { CaptureOutcome } from '../psp/psp.port';
import type { PaymentOrderStatus } from '../domain/payment-status';
import type { EntryType } from '../ledger/journal';
import {
  CAPTURE_BOUNDED_BY_AUTHORIZATION,
  paymentOrderStateQuery,
  paymentOrderStatusAttributes,
  type PaymentOrderInput,
  type PaymentOrderView,
  type PspError,
} from './contracts';
import { psp, steps } from './payment-order.proxies';

/** What the capture activity answered in that version ('failed'), besides today's outcomes. */
type LegacyCaptureOutcome = CaptureOutcome | { kind: 'failed'; code: string; message: string };

/**
 * The patch under which a legacy run whose attempts ran out does not fail: it continues as new on
 * the current code (captures bounded by the authorization; unknown outcomes looked up; failure
 * only through a void the PSP confirms). Without it, an order whose last attempt was ambiguous
 * ended CAPTURE_FAILED + AUTH_RELEASE while the PSP held its capture. Histories that reached the
 * end of their attempts before this patch replay unchanged (no marker: the old path).
 */
export const LEGACY_HANDOVER_ON_EXHAUSTION = 'legacy-capture-exhaustion-hands-over';

export async function legacyPaymentOrderWorkflow(input: PaymentOrderInput): Promise<PaymentOrderView> {
  const attemptsMax = input.backoff.attemptsMax ?? 5;
  const view: PaymentOrderView = {
    paymentOrderId: input.paymentOrderId,
    status: 'INITIATED_PENDING',
    attempts: 0,
    lastPspError: null,
    retryDelaysMs: [],
  };
  setHandler(paymentOrderStateQuery, () => view);

  // The AUTH_HOLD fact travels with the first capture outcome (CAPTURED, CAPTURE_FAILED or
  // PENDING_CAPTURE) in one signal, rather than alone at CAPTURE_REQUESTED: one ledger signal and
  // one ledger commit per PaymentOrder on the happy path instead of two (docs/performance.md).
  // Workflows started before this change keep posting the hold first (replay-safe).
  const holdWithFirstOutcome = input.ledgerHold === 'with-first-outcome';
  let holdReported = false;

  /** Moves to `to` (search attributes, query state, database) after reporting its ledger facts. */
  const transition = async (to: PaymentOrderStatus, lastPspError: PspError | null, fact?: EntryType, pspCaptureId?: string) => {
    view.status = to;
    view.lastPspError = lastPspError;
    upsertSearchAttributes(paymentOrderStatusAttributes(to, view.attempts, lastPspError));
    const entryTypes: EntryType[] = [];
    if (holdWithFirstOutcome && !holdReported && to !== 'CAPTURE_REQUESTED') {
      entryTypes.push('AUTH_HOLD');
      holdReported = true;
    }
    if (fact && !(holdWithFirstOutcome && fact === 'AUTH_HOLD')) entryTypes.push(fact);
    const ledgerFacts = entryTypes.map((entryType) => ({
      entryType,
      paymentOrderId: input.paymentOrderId,
      paymentId: input.paymentId,
      sellerId: input.sellerId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      commissionBps: input.commissionBps,
      ...(entryType === 'CAPTURE' && pspCaptureId ? { metadata: { pspCaptureId } } : {}),
    }));
    // The capture id (a local activity's input, not a command) makes the order refundable.
    await steps.advancePaymentOrder({ transition: { paymentOrderId: input.paymentOrderId, to, attempts: view.attempts, lastPspError, ...(pspCaptureId ? { pspCaptureId } : {}) }, ledgerFacts });
  };

  await transition('CAPTURE_REQUESTED', null, 'AUTH_HOLD');

  let lastError: PspError | null = null;
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    let outcome: LegacyCaptureOutcome;
    try {
      outcome = await psp.capturePayment({
        paymentOrderId: input.paymentOrderId,
        authorizationId: input.pspAuthorizationId,
        amountMinor: input.amountMinor,
        currency: input.currency,
      });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      outcome = { kind: 'retryable', code: 'CAPTURE_ACTIVITY_FAILED', message: err.cause?.message ?? err.message };
    }
    view.attempts = attempt;

    if (outcome.kind === 'captured') {
      await transition('CAPTURED', view.lastPspError, 'CAPTURE', outcome.captureId);
      return view;
    }
    const error = { code: outcome.code, message: outcome.message };
    lastError = error;
    if ((outcome as LegacyCaptureOutcome).kind === 'failed' || outcome.kind === 'rejected') {
      log.warn('capture failed permanently', { paymentOrderId: input.paymentOrderId, code: outcome.code, attempt });
      await transition('CAPTURE_FAILED', error, 'AUTH_RELEASE');
      return view;
    }
    if (attempt === attemptsMax) break;
    await transition('PENDING_CAPTURE', error);
    const delayMs = equalJitterDelayMs(attempt, input.backoff, Math.random);
    view.retryDelaysMs.push(delayMs);
    await sleep(delayMs);
  }

  if (patched(LEGACY_HANDOVER_ON_EXHAUSTION)) {
    log.warn('capture attempts of the previous release exhausted; continuing on the current code', { paymentOrderId: input.paymentOrderId, attempts: view.attempts });
    // AUTH_HOLD went out at CAPTURE_REQUESTED, or with the first outcome (PENDING_CAPTURE) if there was one.
    const holdReportedSoFar = !holdWithFirstOutcome || holdReported;
    // captureModel: the next run takes the current code (paymentOrderWorkflow reads it).
    await continueAsNew<typeof legacyPaymentOrderWorkflow>({
      ...input,
      captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION,
      resume: { status: view.status, attempts: view.attempts, lastPspError: lastError, unknownOutcomes: 0, holdReported: holdReportedSoFar, cancelRequested: false },
    });
  }
  log.warn('capture attempts exhausted', { paymentOrderId: input.paymentOrderId, attempts: view.attempts });
  await transition('CAPTURE_FAILED', lastError ?? { code: 'ATTEMPTS_EXHAUSTED', message: 'capture attempts exhausted' }, 'AUTH_RELEASE');
  return view;
}
