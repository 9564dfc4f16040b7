/**
 * The webhook relay (an outbox relay, like the PaymentOrder starter's): merchant events are written
 * in the same Postgres transaction as the state change they announce, with `dispatched_at = null`.
 * Every interval the relay, in one transaction, claims undispatched events (FOR UPDATE SKIP LOCKED,
 * so several workers share the work), inserts one delivery per subscribed ENABLED endpoint of the
 * event's seller (unique per endpoint and event, so a repeated fan-out adds nothing) and marks the
 * events dispatched. Only after the commit does it wake the endpoints' workflows.
 *
 * Failure analysis:
 * - A process dies between the state change and the send: the event is in Postgres; the relay fans
 *   it out, or the deliveries it already wrote are pending; either way it is sent.
 * - The relay dies mid-sweep: the transaction rolls back; the events are still undispatched.
 * - The wake fails (Temporal down) or a workflow was terminated: deliveries stay PENDING; the sweep
 *   starts the workflow of any endpoint whose deliveries are overdue by more than `sweepMinAgeMs`.
 * At-least-once: a receiver may get an event twice (a 2xx lost on the way back); it dedupes by id.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Config } from '../config/config';
import type { Database } from '../db/client';
import { merchantEvents, webhookDeliveries, webhookEndpoints } from '../db/schema';
import type { Logger } from '../observability/logger';
import { webhookEndpointWorkflowId, webhookWakeSignal, type WebhookEndpointInput, type WebhookEndpointSettings } from '../workflows/webhook-contracts';
import { runPeriodically } from './periodic';

export function webhookEndpointSettingsFromConfig(config: Config): WebhookEndpointSettings {
  return { batchMax: config.WEBHOOK_BATCH_MAX, backoff: { baseMs: config.WEBHOOK_BACKOFF_BASE_MS, capMs: config.WEBHOOK_BACKOFF_CAP_MS }, roundsMax: 500, heartbeatTimeoutMs: 2 * config.WEBHOOK_TIMEOUT_MS + 5_000 };
}

/** Starts or wakes endpoint workflows (API: a resend; relay: new deliveries). */
export function createWebhookWaker(deps: { client: Client; taskQueue: string; settings: WebhookEndpointSettings }) {
  const optionsFor = (endpointId: string) => ({
    workflowId: webhookEndpointWorkflowId(endpointId),
    taskQueue: deps.taskQueue,
    args: [{ endpointId, settings: deps.settings }] as [WebhookEndpointInput],
    // A finished run (idle, or its endpoint deleted) may be followed by a new one.
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
  return {
    /** Wakes the running workflow, or starts one. */
    wake: (endpointId: string) => deps.client.workflow.signalWithStart('webhookEndpointWorkflow', { ...optionsFor(endpointId), signal: webhookWakeSignal, signalArgs: [] }),
    /** Starts the workflow unless it runs (no history event when it does: the sweep's way). */
    ensureRunning: async (endpointId: string) => {
      try {
        await deps.client.workflow.start('webhookEndpointWorkflow', optionsFor(endpointId));
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
  };
}

export type WebhookRelaySettings = { intervalMs: number; batchMax: number; sweepMinAgeMs: number; sweepEveryTicks: number };

export function createWebhookRelay(deps: { db: Database; waker: ReturnType<typeof createWebhookWaker>; log: Logger }) {
  const { db } = deps;

  /** Fans undispatched events out to deliveries; returns the endpoints that got new deliveries. */
  async function dispatchOnce(batchMax: number): Promise<{ events: number; endpointIds: string[] }> {
    const result = await db.transaction(async (tx) => {
      const events = await tx
        .select({ id: merchantEvents.id, type: merchantEvents.type, sellerId: merchantEvents.sellerId })
        .from(merchantEvents)
        .where(isNull(merchantEvents.dispatchedAt))
        .orderBy(asc(merchantEvents.createdAt))
        .limit(batchMax)
        .for('update', { skipLocked: true });
      if (events.length === 0) return { events: 0, endpointIds: [] };
      const sellers = [...new Set(events.map((e) => e.sellerId))];
      const endpoints = await tx
        .select({ id: webhookEndpoints.id, sellerId: webhookEndpoints.sellerId, events: webhookEndpoints.events })
        .from(webhookEndpoints)
        .where(and(inArray(webhookEndpoints.sellerId, sellers), eq(webhookEndpoints.status, 'ENABLED')));
      const rows = events.flatMap((e) => endpoints.filter((ep) => ep.sellerId === e.sellerId && ep.events.includes(e.type)).map((ep) => ({ id: randomUUID(), endpointId: ep.id, eventId: e.id, status: 'PENDING' as const })));
      if (rows.length > 0) await tx.insert(webhookDeliveries).values(rows).onConflictDoNothing();
      await tx.update(merchantEvents).set({ dispatchedAt: sql`now()` }).where(inArray(merchantEvents.id, events.map((e) => e.id)));
      return { events: events.length, endpointIds: [...new Set(rows.map((r) => r.endpointId))] };
    });
    await wakeAll(result.endpointIds, (id) => deps.waker.wake(id));
    return result;
  }

  /** Endpoints with deliveries overdue for a while: their workflow is not running; start it. */
  async function sweepOnce(minAgeMs: number): Promise<number> {
    const rows = await db
      .selectDistinct({ endpointId: webhookDeliveries.endpointId })
      .from(webhookDeliveries)
      .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, webhookDeliveries.endpointId))
      .where(and(eq(webhookDeliveries.status, 'PENDING'), eq(webhookEndpoints.status, 'ENABLED'), sql`${webhookDeliveries.nextAttemptAt} < now() - make_interval(secs => ${minAgeMs / 1_000})`))
      .limit(500);
    await wakeAll(rows.map((r) => r.endpointId), (id) => deps.waker.ensureRunning(id));
    return rows.length;
  }

  async function wakeAll(endpointIds: string[], wake: (id: string) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled(endpointIds.map((id) => wake(id)));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length > 0) deps.log.warn({ err: (failed[0] as PromiseRejectedResult).reason as Error, failed: failed.length }, 'could not wake webhook endpoint workflows; the sweep retries');
  }

  function run(settings: WebhookRelaySettings): () => Promise<void> {
    let ticks = 0;
    return runPeriodically(
      async () => {
        ticks += 1;
        // Drain a backlog in consecutive batches before sleeping.
        for (let i = 0; i < 20; i++) if ((await dispatchOnce(settings.batchMax)).events < settings.batchMax) break;
        if (ticks % settings.sweepEveryTicks === 0) await sweepOnce(settings.sweepMinAgeMs);
      },
      { intervalMs: settings.intervalMs, log: deps.log, what: 'webhook relay sweep' },
    );
  }

  return { dispatchOnce, sweepOnce, run };
}
