/**
 * HTTP layer of merchant webhooks: endpoints (register, list, get, delete, rotate the secret) and
 * their delivery log (list, get with every attempt, resend). A seller token manages its own
 * endpoints; a principal with WEBHOOKS_ADMIN_SCOPE manages any seller's (naming the seller).
 */
import express from 'express';
import { WEBHOOK_DELIVERY_STATUSES, type WebhookDeliveryStatus } from '../domain/webhooks';
import type { Authenticator, Principal } from './auth';
import { UUID_PATTERN, jsonBody, requireJson } from './payments.routes';
import { Problem } from './problem';
import type { RateLimits } from './rate-limit';
import type { WebhookAccess, createWebhooksService } from './webhooks.service';
import { validateCreateWebhookEndpoint } from './webhooks.validation';

/** The operator scope: manage any seller's webhook endpoints. */
export const WEBHOOKS_ADMIN_SCOPE = 'webhooks:admin';

const SELLER_ID = /^[^\p{C}]{1,64}$/u;
const DELIVERIES_LIMIT_MAX = 200;

function accessOf(principal: Principal): WebhookAccess {
  if (principal.sellerId !== undefined) return { sellerId: principal.sellerId };
  if (principal.scopes.has(WEBHOOKS_ADMIN_SCOPE)) return { anySeller: true };
  throw new Problem(403, 'forbidden', 'Forbidden', `Webhook endpoints are managed with a seller token, or with the scope ${WEBHOOKS_ADMIN_SCOPE}.`);
}

/** The seller a create or list is for: the token's own, or the one an operator names. */
function sellerFor(access: WebhookAccess, named: string | undefined, where: string): string {
  if ('sellerId' in access) {
    if (named !== undefined && named !== access.sellerId) throw new Problem(403, 'forbidden', 'Forbidden', 'A seller token manages only its own webhook endpoints.');
    return access.sellerId;
  }
  if (named === undefined || !SELLER_ID.test(named)) {
    throw new Problem(400, 'invalid-request', 'Invalid request', `With the operator scope, name the seller (${where}).`, { errors: [{ pointer: where, detail: 'is required: 1-64 printable characters' }] });
  }
  return named;
}

const idOf = (value: unknown, what: 'endpoint' | 'delivery'): string => {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) {
    throw what === 'endpoint' ? new Problem(404, 'not-found', 'Webhook endpoint not found', 'No webhook endpoint has this id.') : new Problem(404, 'not-found', 'Delivery not found', 'This endpoint has no delivery with this id.');
  }
  return value.toLowerCase();
};

export function webhooksRouter(deps: { auth: Authenticator; webhooks: ReturnType<typeof createWebhooksService>; limits: RateLimits; bodyLimitBytes: number }): express.Router {
  const router = express.Router();
  const { auth, limits, webhooks } = deps;
  const json = jsonBody(Math.min(deps.bodyLimitBytes, 16 * 1024));
  const read = [limits.byIp('read'), auth.authenticate, limits.byClient('read')];
  const write = [limits.byIp('write'), auth.authenticate, limits.byClient('write')];
  const access = (res: express.Response) => accessOf(res.locals.principal as Principal);

  router.post('/api/v1/webhook-endpoints', ...write, requireJson, json, async (req, res) => {
    const who = access(res);
    const validation = validateCreateWebhookEndpoint(req.body);
    if (!validation.ok) {
      throw new Problem(400, 'invalid-request', 'Invalid request', `The request body violates ${validation.errors.length} rule(s); see errors.`, { errors: validation.errors });
    }
    const sellerId = sellerFor(who, validation.value.sellerId, '/sellerId');
    const created = await webhooks.create(sellerId, validation.value);
    res.setHeader('Location', `/api/v1/webhook-endpoints/${created.id}`);
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json(created);
  });

  router.get('/api/v1/webhook-endpoints', ...read, async (req, res) => {
    const named = typeof req.query.sellerId === 'string' ? req.query.sellerId : undefined;
    res.json(await webhooks.list(sellerFor(access(res), named, 'query:sellerId')));
  });

  router.get('/api/v1/webhook-endpoints/:id', ...read, async (req, res) => {
    res.json(await webhooks.get(idOf(req.params.id, 'endpoint'), access(res)));
  });

  router.delete('/api/v1/webhook-endpoints/:id', ...write, async (req, res) => {
    await webhooks.remove(idOf(req.params.id, 'endpoint'), access(res));
    res.status(204).end();
  });

  router.post('/api/v1/webhook-endpoints/:id/rotate-secret', ...write, async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(await webhooks.rotateSecret(idOf(req.params.id, 'endpoint'), access(res)));
  });

  router.post('/api/v1/webhook-endpoints/:id/enable', ...write, async (req, res) => {
    res.json(await webhooks.enable(idOf(req.params.id, 'endpoint'), access(res)));
  });

  router.get('/api/v1/webhook-endpoints/:id/deliveries', ...read, async (req, res) => {
    const who = access(res);
    const rawLimit = req.query.limit;
    const limit = rawLimit === undefined ? 50 : Number(rawLimit);
    const status = req.query.status;
    const errors = [];
    if (!Number.isInteger(limit) || limit < 1 || limit > DELIVERIES_LIMIT_MAX) errors.push({ pointer: 'query:limit', detail: `must be an integer from 1 to ${DELIVERIES_LIMIT_MAX}` });
    if (status !== undefined && !(WEBHOOK_DELIVERY_STATUSES as readonly unknown[]).includes(status)) errors.push({ pointer: 'query:status', detail: `must be one of ${WEBHOOK_DELIVERY_STATUSES.join(', ')}` });
    if (errors.length > 0) throw new Problem(400, 'invalid-request', 'Invalid request', 'The query violates the rules listed in errors.', { errors });
    res.json(await webhooks.listDeliveries(idOf(req.params.id, 'endpoint'), who, { limit, ...(status ? { status: status as WebhookDeliveryStatus } : {}) }));
  });

  router.get('/api/v1/webhook-endpoints/:id/deliveries/:deliveryId', ...read, async (req, res) => {
    res.json(await webhooks.getDelivery(idOf(req.params.id, 'endpoint'), idOf(req.params.deliveryId, 'delivery'), access(res)));
  });

  router.post('/api/v1/webhook-endpoints/:id/deliveries/:deliveryId/resend', ...write, async (req, res) => {
    const delivery = await webhooks.resend(idOf(req.params.id, 'endpoint'), idOf(req.params.deliveryId, 'delivery'), access(res));
    res.setHeader('Location', `/api/v1/webhook-endpoints/${delivery.endpointId}/deliveries/${delivery.deliveryId}`);
    res.status(202).json(delivery);
  });

  return router;
}
