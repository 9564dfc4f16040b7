/**
 * webhookEndpointWorkflow: the delivery pump of one merchant webhook endpoint.
 *
 * Why one workflow per endpoint and not one per delivery: a merchant with thousands of events and
 * an endpoint down for a day would, per delivery, hold thousands of workflows each retrying on its
 * own timer - thousands of requests an hour against a dead endpoint, then a stampede of all of them
 * the moment it returns. Per endpoint, the pump notices that every attempt fails and backs off as a
 * whole: while failing it sends one delivery per round (a probe) with equal-jitter backoff, and once
 * a probe succeeds it drains the backlog with bounded concurrency. Deliveries themselves live in
 * Postgres (the queue, each with its own attempts and next attempt time), so the workflow holds no
 * state worth losing: terminating it loses nothing, and the relay starts it again when deliveries
 * are overdue. Endpoints are isolated from each other (a slow receiver delays only its own events).
 *
 * Ordering is not promised: deliveries are sent concurrently and a failed one is retried later
 * while newer ones go through. Receivers order by the event's `createdAt` and dedupe by its `id`.
 */
import { condition, continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { createWebhookActivities } from '../activities/webhook.activities';
import { equalJitterDelayMs } from '../domain/backoff';
import { webhookWakeSignal, type WebhookEndpointInput } from './webhook-contracts';

/** The round activity: at most batchMax deliveries, concurrency at a time, each bounded by WEBHOOK_TIMEOUT_MS. */
const roundActivities = (heartbeatTimeoutMs: number) =>
  proxyActivities<ReturnType<typeof createWebhookActivities>>({
    startToCloseTimeout: '5m',
    // It heartbeats after claiming and after each send: a round whose worker died is retried after this, not after 5 minutes.
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: Number.POSITIVE_INFINITY },
  });

/** How long an endpoint with nothing pending waits for a wake-up before its workflow ends. */
const IDLE_END_MS = 10 * 60_000;

export async function webhookEndpointWorkflow(input: WebhookEndpointInput): Promise<'gone' | 'disabled' | 'idle'> {
  const { settings } = input;
  const { deliverDueWebhooks } = roundActivities(settings.heartbeatTimeoutMs ?? 60_000);
  let woken = false;
  setHandler(webhookWakeSignal, () => {
    woken = true;
  });
  let failStreak = input.failStreak ?? 0;

  for (let round = 0; round < settings.roundsMax; round++) {
    woken = false;
    const limit = failStreak > 0 ? 1 : settings.batchMax;
    const result = await deliverDueWebhooks({ endpointId: input.endpointId, limit });
    if (result.endpoint !== 'enabled') return result.endpoint;

    if (result.attempted > 0 && result.delivered === 0) {
      // Every attempt failed: back off as an endpoint, then probe with one delivery.
      failStreak += 1;
      await sleep(equalJitterDelayMs(failStreak, settings.backoff, Math.random));
      continue;
    }
    if (result.delivered > 0) failStreak = 0;
    if (result.attempted === limit) continue; // more may be due right now

    if (result.nextDueInMs === null) {
      // Nothing pending: wait for the relay's wake-up a while, then end (the relay starts a new run).
      if (!(await condition(() => woken, IDLE_END_MS))) return 'idle';
    } else if (result.nextDueInMs > 0) {
      await condition(() => woken, result.nextDueInMs);
    }
    if (workflowInfo().continueAsNewSuggested) break;
  }
  await continueAsNew<typeof webhookEndpointWorkflow>({ ...input, failStreak });
  return 'idle'; // not reached: continueAsNew throws
}
