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
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createLedgerSignalActivities } from '../activities/ledger-signal.activities';
import type { createPaymentOrderActivities } from '../activities/payment-order.activities';
import type { createPspActivities } from '../activities/psp.activities';
import { equalJitterDelayMs } from '../domain/backoff';
import type { PaymentOrderStatus } from '../domain/payment-status';
import type { EntryType } from '../ledger/journal';
import {
  paymentOrderStateQuery,
  SA_CAPTURE_ATTEMPTS,
  SA_LAST_PSP_ERROR_CODE,
  SA_PAYMENT_ORDER_STATUS,
  type PaymentOrderInput,
  type PaymentOrderView,
  type PspError,
} from './contracts';

/** Database writes: retried until the database is back (no attempt limit), never giving up on a payment. */
const db = proxyActivities<ReturnType<typeof createPaymentOrderActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['IllegalPaymentOrderTransition', 'PaymentOrderNotFound'] },
});

/** Signalling the seller's ledger: same policy; a duplicate delivery is deduplicated by the ledger. */
const ledger = proxyActivities<ReturnType<typeof createLedgerSignalActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: Number.POSITIVE_INFINITY },
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

  const transition = async (to: PaymentOrderStatus, lastPspError: PspError | null) => {
    view.status = to;
    view.lastPspError = lastPspError;
    upsertSearchAttributes([
      { key: SA_PAYMENT_ORDER_STATUS, value: to },
      { key: SA_CAPTURE_ATTEMPTS, value: view.attempts },
      { key: SA_LAST_PSP_ERROR_CODE, value: lastPspError?.code ?? null },
    ]);
    await db.recordPaymentOrderTransition({ paymentOrderId: input.paymentOrderId, to, attempts: view.attempts, lastPspError });
  };
  const report = (entryType: EntryType) =>
    ledger.reportLedgerFact({
      entryType,
      paymentOrderId: input.paymentOrderId,
      paymentId: input.paymentId,
      sellerId: input.sellerId,
      amountMinor: input.amountMinor,
      currency: input.currency,
      commissionBps: input.commissionBps,
    });

  await report('AUTH_HOLD');
  await transition('CAPTURE_REQUESTED', null);

  let lastError: PspError | null = null;
  for (let attempt = 1; attempt <= input.backoff.attemptsMax; attempt++) {
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
      await report('CAPTURE');
      await transition('CAPTURED', view.lastPspError);
      return view;
    }
    const error = { code: outcome.code, message: outcome.message };
    lastError = error;
    if (outcome.kind === 'failed') {
      log.warn('capture failed permanently', { paymentOrderId: input.paymentOrderId, code: outcome.code, attempt });
      await report('AUTH_RELEASE');
      await transition('CAPTURE_FAILED', error);
      return view;
    }
    if (attempt === input.backoff.attemptsMax) break;
    await transition('PENDING_CAPTURE', error);
    const delayMs = equalJitterDelayMs(attempt, input.backoff, Math.random);
    view.retryDelaysMs.push(delayMs);
    await sleep(delayMs);
  }

  log.warn('capture attempts exhausted', { paymentOrderId: input.paymentOrderId, attempts: view.attempts });
  await report('AUTH_RELEASE');
  await transition('CAPTURE_FAILED', lastError ?? { code: 'ATTEMPTS_EXHAUSTED', message: 'capture attempts exhausted' });
  return view;
}
