/** The activities of the PaymentOrder workflow (current and legacy code), with their options. */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createPaymentOrderActivities } from '../activities/payment-order.activities';
import type { createPspActivities } from '../activities/psp.activities';

/**
 * Each step (status transition + its ledger facts, one transaction, then a wake-up signal to the
 * seller's ledger) is a local activity: run by this worker without a round trip through the task
 * queue, recorded as a marker. Retried until the database and Temporal are back (no attempt
 * limit): a payment is never given up because of an outage. Illegal transitions are bugs and fail
 * fast.
 */
export const steps = proxyLocalActivities<ReturnType<typeof createPaymentOrderActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['IllegalPaymentOrderTransition', 'PaymentOrderNotFound'] },
});

/**
 * The PSP calls (capture, lookup, void). Their outcomes come back as values; Temporal retries only
 * a crashed or timed-out activity, a few times, and if even that fails the workflow counts the
 * call's outcome as unknown.
 */
export const psp = proxyActivities<ReturnType<typeof createPspActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});
