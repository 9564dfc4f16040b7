/**
 * Merchant webhook endpoints and their delivery log. An endpoint belongs to one seller; a seller
 * token manages its own, the operator scope any seller's (`WebhookAccess`). Another seller's
 * endpoint answers 404, as an unknown id does. The secret is returned once, at registration and
 * at each rotation; reads never show it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { constraintOf } from '../db/errors';
import { merchantEvents, webhookDeliveries, webhookDeliveryAttempts, webhookEndpoints } from '../db/schema';
import { WEBHOOK_ENDPOINT_DISABLED_ERROR, type WebhookDeliveryStatus } from '../domain/webhooks';
import type { Logger } from '../observability/logger';
import { validateWebhookUrl, type Resolver, type WebhookUrlPolicy } from '../webhooks/url-policy';
import { Problem } from './problem';
import type { CreateWebhookEndpointRequest } from './webhooks.validation';

/** Whose endpoints a caller manages: one seller's, or any (operator scope). */
export type WebhookAccess = { sellerId: string } | { anySeller: true };

export type WebhooksServiceDeps = {
  db: Database;
  urlPolicy: WebhookUrlPolicy;
  secretGraceS: number;
  /** Wakes the endpoint's delivery workflow (a resend is due); failures are logged, the relay's sweep catches up. */
  wake: (endpointId: string) => Promise<unknown>;
  log: Logger;
  resolve?: Resolver;
};

export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

type EndpointRow = typeof webhookEndpoints.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

const endpointView = (e: EndpointRow) => ({
  id: e.id,
  sellerId: e.sellerId,
  url: e.url,
  events: e.events,
  status: e.status,
  disabledReason: e.disabledReason,
  failingSince: e.failingSince?.toISOString() ?? null,
  previousSecretExpiresAt: e.previousSecretExpiresAt && e.previousSecretExpiresAt.getTime() > Date.now() ? e.previousSecretExpiresAt.toISOString() : null,
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
});

const deliveryView = (d: DeliveryRow & { eventType: string }) => ({
  deliveryId: d.id,
  endpointId: d.endpointId,
  eventId: d.eventId,
  eventType: d.eventType,
  status: d.status as WebhookDeliveryStatus,
  attempts: d.attempts,
  lastStatusCode: d.lastStatusCode,
  lastError: d.lastError,
  lastLatencyMs: d.lastLatencyMs,
  lastResponse: d.lastResponse,
  nextAttemptAt: d.status === 'PENDING' ? d.nextAttemptAt.toISOString() : null,
  deliveredAt: d.deliveredAt?.toISOString() ?? null,
  resendOf: d.resendOf,
  createdAt: d.createdAt.toISOString(),
});

const notFound = () => new Problem(404, 'not-found', 'Webhook endpoint not found', 'No webhook endpoint has this id.');

export function createWebhooksService(deps: WebhooksServiceDeps) {
  const { db } = deps;

  async function owned(id: string, access: WebhookAccess): Promise<EndpointRow> {
    const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    if (!row || ('sellerId' in access && row.sellerId !== access.sellerId)) throw notFound();
    return row;
  }

  return {
    async create(sellerId: string, body: CreateWebhookEndpointRequest) {
      const check = await validateWebhookUrl(body.url, deps.urlPolicy, deps.resolve);
      if (!check.ok) {
        throw new Problem(400, 'invalid-webhook-url', 'Invalid webhook URL', `The webhook URL is refused: it ${check.detail}.`, { errors: [{ pointer: '/url', detail: check.detail }] });
      }
      const secret = newWebhookSecret();
      try {
        const [row] = await db
          .insert(webhookEndpoints)
          .values({ id: randomUUID(), sellerId, url: check.url.toString(), events: [...body.events], secret, status: 'ENABLED' })
          .returning();
        return { ...endpointView(row!), secret };
      } catch (err) {
        if (constraintOf(err) === 'webhook_endpoints_seller_url_unique') {
          const [existing] = await db.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(and(eq(webhookEndpoints.sellerId, sellerId), eq(webhookEndpoints.url, check.url.toString())));
          throw new Problem(409, 'webhook-endpoint-exists', 'Webhook endpoint exists', 'This seller already has an endpoint with this URL; rotate its secret to get a new one.', { endpointId: existing?.id });
        }
        throw err;
      }
    },

    async list(sellerId: string) {
      const rows = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.sellerId, sellerId)).orderBy(webhookEndpoints.createdAt).limit(100);
      return { endpoints: rows.map(endpointView) };
    },

    async get(id: string, access: WebhookAccess) {
      return endpointView(await owned(id, access));
    },

    /** Deletes the endpoint and its delivery log; its workflow ends at its next round. */
    async remove(id: string, access: WebhookAccess) {
      await owned(id, access);
      await db.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    },

    /** A new secret; the previous one keeps signing (a second `v1`) for the grace period. */
    async rotateSecret(id: string, access: WebhookAccess) {
      await owned(id, access);
      const secret = newWebhookSecret();
      const [row] = await db
        .update(webhookEndpoints)
        .set({ previousSecret: webhookEndpoints.secret, previousSecretExpiresAt: sql`now() + make_interval(secs => ${deps.secretGraceS})`, secret, updatedAt: sql`now()` })
        .where(eq(webhookEndpoints.id, id))
        .returning();
      return { ...endpointView(row!), secret, previousSecretExpiresAt: row!.previousSecretExpiresAt?.toISOString() ?? null };
    },

    async listDeliveries(id: string, access: WebhookAccess, options: { limit: number; status?: WebhookDeliveryStatus }) {
      await owned(id, access);
      const rows = await db
        .select({ d: webhookDeliveries, eventType: merchantEvents.type })
        .from(webhookDeliveries)
        .innerJoin(merchantEvents, eq(merchantEvents.id, webhookDeliveries.eventId))
        .where(and(eq(webhookDeliveries.endpointId, id), options.status ? eq(webhookDeliveries.status, options.status) : undefined))
        .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
        .limit(options.limit);
      return { deliveries: rows.map((r) => deliveryView({ ...r.d, eventType: r.eventType })) };
    },

    async getDelivery(id: string, deliveryId: string, access: WebhookAccess) {
      await owned(id, access);
      const [row] = await db
        .select({ d: webhookDeliveries, eventType: merchantEvents.type })
        .from(webhookDeliveries)
        .innerJoin(merchantEvents, eq(merchantEvents.id, webhookDeliveries.eventId))
        .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.id, deliveryId)));
      if (!row) throw new Problem(404, 'not-found', 'Delivery not found', 'This endpoint has no delivery with this id.');
      const attempts = await db.select().from(webhookDeliveryAttempts).where(eq(webhookDeliveryAttempts.deliveryId, deliveryId)).orderBy(webhookDeliveryAttempts.attempt);
      return {
        ...deliveryView({ ...row.d, eventType: row.eventType }),
        attemptLog: attempts.map((a) => ({ attempt: a.attempt, outcome: a.outcome, statusCode: a.statusCode, latencyMs: a.latencyMs, response: a.response, error: a.error, at: a.createdAt.toISOString() })),
      };
    },

    /**
     * Re-enables a disabled endpoint, and delivers what it missed: the deliveries failed when it
     * was disabled (each sent again as a new delivery referring to the last one), and the events
     * of its types that the relay fanned out while it was disabled. Enabling an enabled endpoint
     * changes nothing.
     */
    async enable(id: string, access: WebhookAccess) {
      const endpoint = await owned(id, access);
      if (endpoint.status === 'ENABLED') return { ...endpointView(endpoint), redelivering: 0 };
      const redelivering = await db.transaction(async (tx) => {
        const [enabled] = await tx
          .update(webhookEndpoints)
          .set({ status: 'ENABLED', disabledReason: null, failingSince: null, updatedAt: sql`now()` })
          .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.status, 'DISABLED')))
          .returning({ id: webhookEndpoints.id });
        if (!enabled) return 0; // enabled meanwhile by another request
        const failed = await tx.execute(sql`
          insert into webhook_deliveries (id, endpoint_id, event_id, resend_of, status)
          select gen_random_uuid(), d.endpoint_id, d.event_id, d.id, 'PENDING'
            from webhook_deliveries d
           where d.endpoint_id = ${id} and d.status = 'FAILED' and d.last_error = ${WEBHOOK_ENDPOINT_DISABLED_ERROR}
             and not exists (select 1 from webhook_deliveries later where later.endpoint_id = d.endpoint_id and later.event_id = d.event_id and later.created_at > d.created_at)`);
        // Events fanned out while it was disabled (since it began failing) never got a delivery here.
        const missed = await tx.execute(sql`
          insert into webhook_deliveries (id, endpoint_id, event_id, status)
          select gen_random_uuid(), ${id}, e.id, 'PENDING'
            from merchant_events e
           where e.seller_id = ${endpoint.sellerId} and e.type = any(string_to_array(${endpoint.events.join(',')}, ','))
             and e.dispatched_at is not null and e.created_at >= ${(endpoint.failingSince ?? endpoint.updatedAt).toISOString()}::timestamptz
             and not exists (select 1 from webhook_deliveries x where x.endpoint_id = ${id} and x.event_id = e.id)
          on conflict do nothing`);
        return (failed.rowCount ?? 0) + (missed.rowCount ?? 0);
      });
      await deps.wake(id).catch((err: unknown) => deps.log.warn({ err, endpointId: id }, 'could not wake the webhook endpoint workflow; the relay sweep will'));
      return { ...endpointView(await owned(id, access)), redelivering };
    },

    /** Sends the delivery's event again as a new delivery (same event id: receivers dedupe). */
    async resend(id: string, deliveryId: string, access: WebhookAccess) {
      const endpoint = await owned(id, access);
      if (endpoint.status !== 'ENABLED') throw new Problem(409, 'webhook-endpoint-disabled', 'Webhook endpoint disabled', `The endpoint is disabled (${endpoint.disabledReason ?? 'no reason recorded'}); nothing is sent to it.`);
      const [original] = await db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.id, deliveryId)));
      if (!original) throw new Problem(404, 'not-found', 'Delivery not found', 'This endpoint has no delivery with this id.');
      const [row] = await db
        .insert(webhookDeliveries)
        .values({ id: randomUUID(), endpointId: id, eventId: original.eventId, resendOf: original.id, status: 'PENDING' })
        .returning();
      await deps.wake(id).catch((err: unknown) => deps.log.warn({ err, endpointId: id }, 'could not wake the webhook endpoint workflow; the relay sweep will'));
      const [event] = await db.select({ type: merchantEvents.type }).from(merchantEvents).where(eq(merchantEvents.id, original.eventId));
      return deliveryView({ ...row!, eventType: event!.type });
    },
  };
}
