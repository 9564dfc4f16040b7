/**
 * The PaymentOrder workflow exactly as the previous release shipped it (git afb2bc2), kept only to
 * record histories of that release's paths (the `ledgerHold` input) for the replay gate.
 * Minimal type adaptations for today's contracts are marked; no command differs.
 */
/**
 * PaymentOrder workflow: one seller's leg of a payment, from authorization hold to CAPTURED or
 * CAPTURE_FAILED. Retries of a retryable PSP outcome wait an equal-jitter exponential delay in
 * workflow code (Temporal's RetryPolicy has no jitter; workflow Math.random is replay-safe), so
 * the wait is a durable timer and every attempt is visible in the history and in the query.
 */
import {
  ActivityFailure,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createPaymentOrderActivities } from '../../activities/payment-order.activities';
import type { createPspActivities } from '../../activities/psp.activities';
import { equalJitterDelayMs } from '../../domain/backoff';
import type { PaymentOrderStatus } from '../../domain/payment-status';
import type { EntryType } from '../../ledger/journal';
import {
  paymentOrderStateQuery,
  SA_CAPTURE_ATTEMPTS,
  SA_LAST_PSP_ERROR_CODE,
  SA_PAYMENT_ORDER_STATUS,
  type PaymentOrderInput,
  type PaymentOrderView,
  type PspError,
} from '../../workflows/contracts';

/**
 * Each step (ledger fact + status transition) is a local activity: a short database write and one
 * signal, run by this worker without a round trip through the task queue, recorded as a marker.
 * Retried until the database and Temporal are back (no attempt limit): a payment is never given up
 * because of an outage. Illegal transitions are bugs and fail fast.
 */
const steps = proxyLocalActivities<ReturnType<typeof createPaymentOrderActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['IllegalPaymentOrderTransition', 'PaymentOrderNotFound'] },
});

/**
 * The PSP call. Its outcomes come back as values; Temporal retries only a crashed or timed-out
 * activity, a few times, and if even that fails the workflow counts it as a retryable attempt.
 */
const psp = proxyActivities<ReturnType<typeof createPspActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});

export async function paymentOrderWorkflow(input: PaymentOrderInput): Promise<PaymentOrderView> {
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
  const transition = async (to: PaymentOrderStatus, lastPspError: PspError | null, fact?: EntryType) => {
    view.status = to;
    view.lastPspError = lastPspError;
    upsertSearchAttributes([
      { key: SA_PAYMENT_ORDER_STATUS, value: to },
      { key: SA_CAPTURE_ATTEMPTS, value: view.attempts },
      { key: SA_LAST_PSP_ERROR_CODE, value: lastPspError?.code ?? null },
    ]);
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
    }));
    await steps.advancePaymentOrder({ transition: { paymentOrderId: input.paymentOrderId, to, attempts: view.attempts, lastPspError }, ledgerFacts });
  };

  await transition('CAPTURE_REQUESTED', null, 'AUTH_HOLD');

  let lastError: PspError | null = null;
  for (let attempt = 1; attempt <= (input.backoff.attemptsMax ?? 5); attempt++) { // adapted: attemptsMax is optional today
    let outcome: Awaited<ReturnType<typeof psp.capturePayment>>;
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
      await transition('CAPTURED', view.lastPspError, 'CAPTURE');
      return view;
    }
    const error = { code: outcome.code, message: outcome.message };
    lastError = error;
    if ((outcome.kind as string) === 'failed' || outcome.kind === 'rejected') { // adapted: today's activity says 'rejected'
      log.warn('capture failed permanently', { paymentOrderId: input.paymentOrderId, code: outcome.code, attempt });
      await transition('CAPTURE_FAILED', error, 'AUTH_RELEASE');
      return view;
    }
    if (attempt === (input.backoff.attemptsMax ?? 5)) break;
    await transition('PENDING_CAPTURE', error);
    const delayMs = equalJitterDelayMs(attempt, input.backoff, Math.random);
    view.retryDelaysMs.push(delayMs);
    await sleep(delayMs);
  }

  log.warn('capture attempts exhausted', { paymentOrderId: input.paymentOrderId, attempts: view.attempts });
  await transition('CAPTURE_FAILED', lastError ?? { code: 'ATTEMPTS_EXHAUSTED', message: 'capture attempts exhausted' }, 'AUTH_RELEASE');
  return view;
}
