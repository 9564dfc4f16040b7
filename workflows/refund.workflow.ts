/**
 * RefundWorkflow: one refund of (part of) a captured PaymentOrder, `REFUND_REQUESTED -> REFUNDED |
 * REFUND_FAILED`, with the capture's discipline:
 * - the PSP refund is an activity with an idempotency key (`refund:{refundId}`): retrying it can
 *   never refund twice;
 * - an unknown outcome (timeout, connection lost after sending) is looked up at once; if the lookup
 *   cannot say, the refund is retried later with the same key - never booked as failed;
 * - retryable outcomes are retried with equal-jitter backoff for `retryWindowMs` (time, not a
 *   count);
 * - REFUND_FAILED only on a definitive refusal, or when the window has closed and a lookup - made
 *   at least a minute after the last attempt, so no attempt can still be in flight at the PSP -
 *   says the PSP holds no refund under the key.
 * Each step's status, attempts and last error are one transaction in Postgres (with the REFUND
 * ledger fact and the merchant event when it ends), through a local activity.
 */
import {
  ActivityFailure,
  continueAsNew,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createPspActivities } from '../activities/psp.activities';
import type { createRefundActivities } from '../activities/refund.activities';
import { equalJitterDelayMs } from '../domain/backoff';
import type { RefundStatus } from '../domain/payment-status';
import type { RefundOutcome } from '../psp/psp.port';
import { refundStateQuery, SA_LAST_PSP_ERROR_CODE, SA_REFUND_STATUS, type PspError, type RefundInput, type RefundView } from './contracts';

const steps = proxyLocalActivities<ReturnType<typeof createRefundActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['IllegalRefundTransition', 'RefundNotFound'] },
});

const psp = proxyActivities<ReturnType<typeof createPspActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});

/** Our own last error when the window closed without the PSP refusing. */
export const REFUND_WINDOW_CLOSED = 'REFUND_WINDOW_CLOSED';
/** After the window, the lookup that may fail a refund waits this long after the last attempt. */
const IN_FLIGHT_SETTLE_MS = 60_000;

export async function refundWorkflow(input: RefundInput): Promise<RefundView> {
  const startedMs = workflowInfo().startTime.getTime();
  const deadlineMs = input.resume?.deadlineMs ?? startedMs + input.retryWindowMs;
  const view: RefundView = {
    refundId: input.refundId,
    status: 'REFUND_REQUESTED',
    attempts: input.resume?.attempts ?? 0,
    lastPspError: input.resume?.lastPspError ?? null,
    unknownOutcomes: input.resume?.unknownOutcomes ?? 0,
    nextAttemptAt: null,
    retryDeadline: new Date(deadlineMs).toISOString(),
  };
  setHandler(refundStateQuery, () => view);
  let lastAttemptMs = input.resume?.lastAttemptMs ?? 0;

  const transition = async (to: RefundStatus, lastPspError: PspError | null, pspRefundId?: string) => {
    view.status = to;
    view.lastPspError = lastPspError;
    upsertSearchAttributes([
      { key: SA_REFUND_STATUS, value: to },
      { key: SA_LAST_PSP_ERROR_CODE, value: lastPspError?.code ?? null },
    ]);
    await steps.advanceRefund({ refundId: input.refundId, to, attempts: view.attempts, lastPspError, ...(pspRefundId ? { pspRefundId } : {}) });
  };
  const refunded = async (pspRefundId: string) => {
    view.pspRefundId = pspRefundId;
    view.nextAttemptAt = null;
    await transition('REFUNDED', view.lastPspError, pspRefundId);
    return view;
  };
  const failed = async (reason: PspError) => {
    view.nextAttemptAt = null;
    log.warn('refund failed', { refundId: input.refundId, code: reason.code, attempts: view.attempts });
    await transition('REFUND_FAILED', reason);
    return view;
  };
  const pause = async (delayMs: number) => {
    view.nextAttemptAt = new Date(Date.now() + delayMs).toISOString();
    if (delayMs > 0) await sleep(delayMs);
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof refundWorkflow>({ ...input, resume: { attempts: view.attempts, lastPspError: view.lastPspError, unknownOutcomes: view.unknownOutcomes, deadlineMs, lastAttemptMs } });
    }
  };
  const lookup = async () => {
    try {
      return await psp.lookupRefund({ refundId: input.refundId });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      return { kind: 'unknown' as const, code: 'LOOKUP_ACTIVITY_FAILED', message: err.cause?.message ?? err.message };
    }
  };
  const attempt = async (): Promise<RefundOutcome> => {
    let outcome: RefundOutcome;
    lastAttemptMs = Date.now();
    try {
      outcome = await psp.refundPayment({ refundId: input.refundId, pspCaptureId: input.pspCaptureId, amountMinor: input.amountMinor, currency: input.currency });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      outcome = { kind: 'unknown', code: 'REFUND_ACTIVITY_FAILED', message: err.cause?.message ?? err.message };
    }
    if (outcome.kind !== 'unknown') return outcome;
    view.unknownOutcomes += 1;
    const found = await lookup();
    if (found.kind === 'refunded') return found;
    if (found.kind === 'not_found') return { kind: 'retryable', code: outcome.code, message: `${outcome.message}; the PSP holds no refund for this key` };
    if (found.kind === 'rejected') return found;
    return outcome;
  };

  for (;;) {
    if (Date.now() >= deadlineMs) break;
    const outcome = await attempt();
    view.attempts += 1;
    if (outcome.kind === 'refunded') return refunded(outcome.refundId);
    const error = { code: outcome.code, message: outcome.message };
    if (outcome.kind === 'rejected') return failed(error);
    await transition('REFUND_REQUESTED', error);
    await pause(Math.min(equalJitterDelayMs(view.attempts, input.backoff, Math.random), Math.max(deadlineMs - Date.now(), 0)));
  }

  // The window has closed: only a definitive "no refund" from the PSP, asked once nothing can
  // still be in flight, fails the refund.
  for (let lookups = 1; ; lookups++) {
    const settleMs = lastAttemptMs + IN_FLIGHT_SETTLE_MS - Date.now();
    if (settleMs > 0) await pause(settleMs);
    const found = await lookup();
    if (found.kind === 'refunded') return refunded(found.refundId);
    if (found.kind === 'rejected') return failed({ code: found.code, message: found.message });
    if (found.kind === 'not_found') {
      const last = view.lastPspError ? `; last PSP error ${view.lastPspError.code}: ${view.lastPspError.message}` : '';
      return failed({ code: REFUND_WINDOW_CLOSED, message: `no refund within the retry window${last}`.slice(0, 400) });
    }
    await pause(equalJitterDelayMs(lookups, input.backoff, Math.random));
  }
}
