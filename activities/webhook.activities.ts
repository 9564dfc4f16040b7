/**
 * Webhook delivery, one round for one endpoint (called by webhookEndpointWorkflow). Postgres is
 * the queue: a round claims the endpoint's due PENDING deliveries (pushing their next attempt out
 * by a lease, so an overlapping retry of this activity does not send them twice), sends them with
 * bounded concurrency, and records the round's attempts with their outcomes in one transaction:
 * - 2xx: DELIVERED;
 * - anything else: retried after an equal-jitter delay from the delivery's attempt count, until
 *   the retry window (counted from the delivery's creation) is over: then FAILED.
 * The endpoint's health follows: a success clears `failing_since`; a round where every attempt
 * failed sets it, and an endpoint failing longer than `disableAfterMs` is DISABLED with a reason
 * (its pending deliveries FAILED, resendable once it is fixed).
 */
import { Context } from '@temporalio/activity';
import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { merchantEvents, webhookDeliveries, webhookDeliveryAttempts, webhookEndpoints } from '../db/schema';
import { equalJitterDelayMs } from '../domain/backoff';
import { SIGNATURE_HEADER, WEBHOOK_ENDPOINT_DISABLED_ERROR } from '../domain/webhooks';
import { webhookAttempts, webhookDeliveriesFinal, webhookAttemptDuration } from '../observability/webhook-metrics';
import { signWebhookPayload } from '../webhooks/signature';
import type { WebhookSender, WebhookSendResult } from '../webhooks/http-sender';
import type { WebhookRoundResult } from '../workflows/webhook-contracts';

export type WebhookDeliverySettings = {
  concurrency: number;
  backoff: { baseMs: number; capMs: number };
  retryWindowMs: number;
  disableAfterMs: number;
  /** How long a claimed delivery is hidden from another round (longer than a whole round). */
  claimLeaseMs: number;
};

/** The event as receivers get it; `id` is the merchant event's stable id (dedupe by it). */
export const webhookBody = (e: { id: string; type: string; createdAt: Date; data: unknown }): string => JSON.stringify({ id: e.id, type: e.type, createdAt: e.createdAt.toISOString(), data: e.data });

async function mapBounded<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function createWebhookActivities(deps: { db: Database; send: WebhookSender; settings: WebhookDeliverySettings }) {
  const { db, settings } = deps;
  // Outside an activity (tests call the round directly) there is no one to tell.
  const heartbeat = () => {
    try {
      Context.current().heartbeat();
    } catch {
      // not in an activity context
    }
  };

  type Sent = { delivery: { id: string; attempts: number; createdAt: Date }; result: WebhookSendResult };
  type Final = 'DELIVERED' | 'PENDING' | 'FAILED';

  /**
   * Records a round's attempts in one transaction (a round of 50 is then 2 statements, not 100):
   * the attempt log, and each delivery's status, counters and next attempt time.
   */
  async function recordAll(sent: readonly Sent[]): Promise<Final[]> {
    const now = Date.now();
    const rows = sent.map(({ delivery, result }) => {
      const attempt = delivery.attempts + 1;
      const delivered = result.outcome === 'delivered';
      const windowOver = now - delivery.createdAt.getTime() >= settings.retryWindowMs;
      const status: Final = delivered ? 'DELIVERED' : windowOver ? 'FAILED' : 'PENDING';
      const delayMs = status === 'PENDING' ? equalJitterDelayMs(attempt, settings.backoff, Math.random) : 0;
      return { id: delivery.id, attempt, status, delayMs, result };
    });
    await db.transaction(async (tx) => {
      await tx
        .insert(webhookDeliveryAttempts)
        .values(rows.map((r) => ({ deliveryId: r.id, attempt: r.attempt, outcome: r.result.outcome, statusCode: r.result.statusCode, latencyMs: r.result.latencyMs, response: r.result.response, error: r.result.error })))
        .onConflictDoNothing();
      const values = sql.join(
        rows.map((r) => sql`(${r.id}::uuid, ${r.status}, ${r.attempt}::int, ${r.result.statusCode}::int, ${r.result.error}::text, ${r.result.latencyMs}::int, ${r.result.response}::text, ${r.delayMs}::bigint)`),
        sql`, `,
      );
      await tx.execute(sql`
        update ${webhookDeliveries} as d
           set status = v.status, attempts = v.attempt, last_status_code = v.code, last_error = v.err, last_latency_ms = v.latency,
               last_response = v.response, next_attempt_at = now() + make_interval(secs => v.delay_ms / 1000.0),
               delivered_at = case when v.status = 'DELIVERED' then now() else d.delivered_at end, updated_at = now()
          from (values ${values}) as v(id, status, attempt, code, err, latency, response, delay_ms)
         where d.id = v.id and d.status = 'PENDING'`);
    });
    for (const r of rows) {
      webhookAttempts.inc({ outcome: r.result.outcome });
      webhookAttemptDuration.observe({ outcome: r.result.outcome }, r.result.latencyMs / 1_000);
      if (r.status !== 'PENDING') webhookDeliveriesFinal.inc({ status: r.status });
    }
    return rows.map((r) => r.status);
  }

  /** Marks the endpoint's health after a round; returns true when it has just been disabled. */
  async function updateHealth(endpointId: string, attempted: number, delivered: number, last: WebhookSendResult | undefined): Promise<boolean> {
    if (delivered > 0) {
      await db.update(webhookEndpoints).set({ failingSince: null }).where(and(eq(webhookEndpoints.id, endpointId), sql`${webhookEndpoints.failingSince} is not null`));
      return false;
    }
    if (attempted === 0) return false;
    const reason = `every delivery failed for more than ${Math.round(settings.disableAfterMs / 1_000)} s (last attempt: ${last?.error ?? last?.outcome ?? 'unknown'})`.slice(0, 500);
    return db.transaction(async (tx) => {
      const [row] = await tx
        .update(webhookEndpoints)
        .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, now())` })
        .where(eq(webhookEndpoints.id, endpointId))
        .returning({ failingSince: webhookEndpoints.failingSince });
      if (!row?.failingSince || Date.now() - row.failingSince.getTime() < settings.disableAfterMs) return false;
      await tx.update(webhookEndpoints).set({ status: 'DISABLED', disabledReason: reason, updatedAt: sql`now()` }).where(eq(webhookEndpoints.id, endpointId));
      const failed = await tx
        .update(webhookDeliveries)
        .set({ status: 'FAILED', lastError: WEBHOOK_ENDPOINT_DISABLED_ERROR, updatedAt: sql`now()` })
        .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.status, 'PENDING')))
        .returning({ id: webhookDeliveries.id });
      webhookDeliveriesFinal.inc({ status: 'FAILED' }, failed.length);
      return true;
    });
  }

  return {
    /** One round for one endpoint: send up to `limit` due deliveries and report what is left. */
    async deliverDueWebhooks(input: { endpointId: string; limit: number }): Promise<WebhookRoundResult> {
      const [endpoint] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, input.endpointId));
      if (!endpoint) return { endpoint: 'gone' };
      if (endpoint.status !== 'ENABLED') return { endpoint: 'disabled' };

      const claimed = await db.transaction(async (tx) => {
        const due = await tx
          .select({ id: webhookDeliveries.id })
          .from(webhookDeliveries)
          .where(and(eq(webhookDeliveries.endpointId, input.endpointId), eq(webhookDeliveries.status, 'PENDING'), lte(webhookDeliveries.nextAttemptAt, sql`now()`)))
          .orderBy(asc(webhookDeliveries.nextAttemptAt))
          .limit(input.limit)
          .for('update', { skipLocked: true });
        if (due.length === 0) return [];
        return tx
          .update(webhookDeliveries)
          .set({ nextAttemptAt: sql`now() + make_interval(secs => ${settings.claimLeaseMs / 1_000})` })
          .where(inArray(webhookDeliveries.id, due.map((d) => d.id)))
          .returning({ id: webhookDeliveries.id, eventId: webhookDeliveries.eventId, attempts: webhookDeliveries.attempts, createdAt: webhookDeliveries.createdAt });
      });

      heartbeat();
      let delivered = 0;
      let last: WebhookSendResult | undefined;
      if (claimed.length > 0) {
        const events = await db.select().from(merchantEvents).where(inArray(merchantEvents.id, [...new Set(claimed.map((c) => c.eventId))]));
        const byId = new Map(events.map((e) => [e.id, e]));
        const nowS = Math.floor(Date.now() / 1_000);
        const secrets = [endpoint.secret, ...(endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt.getTime() > Date.now() ? [endpoint.previousSecret] : [])];
        const sent = await mapBounded(claimed, settings.concurrency, async (delivery): Promise<Sent> => {
          const event = byId.get(delivery.eventId)!;
          const body = webhookBody(event);
          const result = await deps.send(endpoint.url, body, {
            [SIGNATURE_HEADER]: signWebhookPayload(body, secrets, nowS),
            'Payorch-Event-Id': event.id,
            'Payorch-Event-Type': event.type,
            'Payorch-Delivery-Id': delivery.id,
          });
          last = result;
          heartbeat();
          return { delivery, result };
        });
        const statuses = await recordAll(sent);
        delivered = statuses.filter((s) => s === 'DELIVERED').length;
        if (await updateHealth(input.endpointId, claimed.length, delivered, last)) return { endpoint: 'disabled' };
      }

      const [next] = await db.execute<{ due_in_ms: string | null }>(
        sql`select (extract(epoch from (min(${webhookDeliveries.nextAttemptAt}) - now())) * 1000)::bigint::text as due_in_ms from ${webhookDeliveries} where ${webhookDeliveries.endpointId} = ${input.endpointId} and ${webhookDeliveries.status} = 'PENDING'`,
      ).then((r) => r.rows);
      const dueInMs = next?.due_in_ms === null || next?.due_in_ms === undefined ? null : Math.max(0, Number(next.due_in_ms));
      return { endpoint: 'enabled', attempted: claimed.length, delivered, nextDueInMs: dueInMs };
    },
  };
}
