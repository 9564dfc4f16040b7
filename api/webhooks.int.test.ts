/**
 * Merchant webhooks against the real stack (the run's API, worker, PSP simulator, Postgres,
 * Temporal) and a real HTTP receiver on 127.0.0.1: endpoints managed through the API, events
 * from real checkouts delivered signed, retried until a 2xx with the same event id, resent by
 * hand, signed with both secrets during a rotation; SSRF attempts refused with 400, in the run's
 * (development) policy and in an API built with the production policy.
 */
import express from 'express';
import { createAuthenticator } from './auth';
import { errorMiddleware } from './problem';
import type { RateLimits } from './rate-limit';
import { webhooksRouter } from './webhooks.routes';
import { createWebhooksService } from './webhooks.service';
import { createDb } from '../db/client';
import { createLogger } from '../observability/logger';
import { testConfig, testEnv, token, uniqueId, waitFor } from '../test/support';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../test/webhook-receiver';
import { verifyWebhookSignature } from '../webhooks/signature';
import { systemResolver, type Resolver } from '../webhooks/url-policy';

type Json = Record<string, any>;

describe('merchant webhooks', () => {
  let receiver: WebhookReceiver;
  let writer: string;
  const api = () => testEnv().apiBaseUrl;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    writer = await token({ scope: 'payments:write payments:read' });
    // The setup's readiness probes leave keep-alive sockets that the API closes after 5 s idle; a
    // first request racing that close fails with "other side closed". Use them up on a probe.
    await waitFor('the API answering', async () => (await fetch(`${api()}/healthz`)).ok, 10_000, 50);
  });
  afterAll(() => receiver.close());

  const call = async (method: string, path: string, auth: string, payload?: unknown, base = api()) => {
    const headers: Record<string, string> = { authorization: `Bearer ${auth}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST' && path === '/api/v1/payments') headers['idempotency-key'] = uniqueId('key');
    const res = await fetch(`${base}${path}`, { method, headers, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const seller = async () => {
    const sellerId = uniqueId('whseller');
    return { sellerId, auth: await token({ sellerId, scope: '' }) };
  };
  const register = async (auth: string, path: string, events = ['payment_order.captured']) => {
    const res = await call('POST', '/api/v1/webhook-endpoints', auth, { url: receiver.url(path), events });
    expect(res.status).toBe(201);
    return res.json as { id: string; secret: string };
  };
  const checkout = async (sellerId: string, quantity = 1_000) => {
    const res = await call('POST', '/api/v1/payments', writer, {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity, currency: 'EUR' },
      paymentOrders: [{ sellerId, amount: { quantity, currency: 'EUR' } }],
      paymentMethod: { token: 'tok_visa' },
    });
    expect(res.status).toBe(202);
    return res.json.paymentOrders[0].paymentOrderId as string;
  };
  const arrivals = (path: string, count: number, timeoutMs = 30_000) =>
    waitFor(`${count} webhook(s) on ${path}`, () => Promise.resolve(receiver.on(path).length >= count ? receiver.on(path) : undefined), timeoutMs, 50);
  const eventOf = (r: ReceivedWebhook) => JSON.parse(r.body) as { id: string; type: string; createdAt: string; data: Json };

  test('endpoints: 201 with the secret once, reads without it, list, get, delete; other sellers and bad bodies refused', async () => {
    const a = await seller();
    const b = await seller();
    const created = await call('POST', '/api/v1/webhook-endpoints', a.auth, { url: receiver.url('/crud'), events: ['payment_order.captured', 'refund.succeeded', 'payout.paid'] });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/webhook-endpoints/${created.json.id}`);
    expect(created.json).toMatchObject({ sellerId: a.sellerId, status: 'ENABLED', events: ['payment_order.captured', 'refund.succeeded', 'payout.paid'] });
    expect(created.json.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const id = created.json.id as string;

    const got = await call('GET', `/api/v1/webhook-endpoints/${id}`, a.auth);
    expect(got.status).toBe(200);
    expect(got.json.secret).toBeUndefined();
    expect((await call('GET', '/api/v1/webhook-endpoints', a.auth)).json.endpoints.map((e: Json) => e.id)).toEqual([id]);
    // Another seller: the endpoint does not exist for it.
    expect((await call('GET', `/api/v1/webhook-endpoints/${id}`, b.auth)).status).toBe(404);
    expect((await call('DELETE', `/api/v1/webhook-endpoints/${id}`, b.auth)).status).toBe(404);
    expect((await call('GET', '/api/v1/webhook-endpoints', b.auth)).json.endpoints).toEqual([]);
    // The same URL twice: 409 naming the existing endpoint.
    const again = await call('POST', '/api/v1/webhook-endpoints', a.auth, { url: receiver.url('/crud'), events: ['refund.failed'] });
    expect(again.status).toBe(409);
    expect(again.json.endpointId).toBe(id);
    // Bad bodies: every violation listed, problem+json.
    const bad = await call('POST', '/api/v1/webhook-endpoints', a.auth, { url: 42, events: ['nope', 'nope'], extra: true });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(bad.json.errors.map((e: Json) => e.pointer).sort()).toEqual(['/events/0', '/events/1', '/extra', '/url'].sort());
    // A token that is neither a seller's nor an operator's: 403.
    expect((await call('GET', '/api/v1/webhook-endpoints', writer)).status).toBe(403);
    // An operator manages any seller's, naming it.
    const operator = await token({ scope: 'webhooks:admin' });
    expect((await call('GET', `/api/v1/webhook-endpoints?sellerId=${encodeURIComponent(a.sellerId)}`, operator)).json.endpoints).toHaveLength(1);
    expect((await call('GET', '/api/v1/webhook-endpoints', operator)).status).toBe(400);

    expect((await call('DELETE', `/api/v1/webhook-endpoints/${id}`, a.auth)).status).toBe(204);
    expect((await call('GET', `/api/v1/webhook-endpoints/${id}`, a.auth)).status).toBe(404);
  });

  test('a captured order arrives signed, verifies, and is logged as DELIVERED; a tampered body or an old timestamp fail', async () => {
    const s = await seller();
    const endpoint = await register(s.auth, '/signed');
    const paymentOrderId = await checkout(s.sellerId);
    const [hook] = await arrivals('/signed', 1);
    const event = eventOf(hook!);
    expect(event).toMatchObject({ id: expect.stringMatching(/^evt_[0-9a-f]{32}$/), type: 'payment_order.captured', data: { paymentOrderId, sellerId: s.sellerId } });
    expect(hook!.headers['payorch-event-id']).toBe(event.id);
    const header = hook!.headers['payorch-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ payload: hook!.body, header, secret: endpoint.secret })).toMatchObject({ ok: true });
    expect(verifyWebhookSignature({ payload: hook!.body.replace(s.sellerId, 'someone-else'), header, secret: endpoint.secret })).toEqual({ ok: false, reason: 'no_matching_signature' });
    expect(verifyWebhookSignature({ payload: hook!.body, header, secret: endpoint.secret, nowS: Math.floor(Date.now() / 1_000) + 3_600 })).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    expect(verifyWebhookSignature({ payload: hook!.body, header, secret: 'whsec_wrong' }).ok).toBe(false);

    const log = await waitFor('the delivery logged', async () => {
      const res = await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries`, s.auth);
      return res.json.deliveries[0]?.status === 'DELIVERED' ? res.json.deliveries : undefined;
    });
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ eventId: event.id, eventType: 'payment_order.captured', attempts: 1, lastStatusCode: 200, lastResponse: 'ok', resendOf: null });
    expect(log[0].lastLatencyMs).toEqual(expect.any(Number));
  });

  test('a receiver answering 500 to its first 3 calls gets the event on the 4th, with the same id; the log shows every attempt', async () => {
    const s = await seller();
    receiver.script('/flaky', [500, 500, 500]);
    const endpoint = await register(s.auth, '/flaky');
    await checkout(s.sellerId);
    const hooks = await arrivals('/flaky', 4);
    await new Promise((r) => setTimeout(r, 500)); // nothing after the 2xx
    expect(receiver.on('/flaky').map((h) => h.status)).toEqual([500, 500, 500, 200]);
    expect(new Set(hooks.map((h) => eventOf(h).id)).size).toBe(1);
    expect(new Set(hooks.map((h) => h.headers['payorch-delivery-id'])).size).toBe(1);
    for (const h of hooks) expect(verifyWebhookSignature({ payload: h.body, header: h.headers['payorch-signature'] as string, secret: endpoint.secret }).ok).toBe(true);

    const [delivery] = (await waitFor('DELIVERED', async () => {
      const res = await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries?status=DELIVERED`, s.auth);
      return res.json.deliveries.length > 0 ? res.json.deliveries : undefined;
    })) as Json[];
    const detail = await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivery!.deliveryId}`, s.auth);
    expect(detail.json).toMatchObject({ status: 'DELIVERED', attempts: 4, lastStatusCode: 200 });
    expect(detail.json.attemptLog.map((a: Json) => [a.attempt, a.outcome, a.statusCode])).toEqual([
      [1, 'http_error', 500],
      [2, 'http_error', 500],
      [3, 'http_error', 500],
      [4, 'delivered', 200],
    ]);
    expect(detail.json.attemptLog[0].response).toBe('scripted 500');
  });

  test('resend: the same event again, as a new delivery that refers to the first', async () => {
    const s = await seller();
    const endpoint = await register(s.auth, '/resend');
    await checkout(s.sellerId);
    const [first] = await arrivals('/resend', 1);
    const delivered = await waitFor('DELIVERED', async () => (await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries?status=DELIVERED`, s.auth)).json.deliveries[0] as Json | undefined);
    const resent = await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivered.deliveryId}/resend`, s.auth);
    expect(resent.status).toBe(202);
    expect(resent.json).toMatchObject({ status: 'PENDING', eventId: delivered.eventId, resendOf: delivered.deliveryId });
    const hooks = await arrivals('/resend', 2);
    expect(eventOf(hooks[1]!).id).toBe(eventOf(first!).id);
    expect(hooks[1]!.headers['payorch-delivery-id']).toBe(resent.json.deliveryId);
    expect(hooks[1]!.body).toBe(first!.body);
    // Unknown delivery, another seller: 404.
    expect((await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries/00000000-0000-4000-8000-000000000000/resend`, s.auth)).status).toBe(404);
    expect((await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivered.deliveryId}/resend`, (await seller()).auth)).status).toBe(404);
  });

  test('enable: a disabled endpoint is enabled again and gets what it missed (failed at disablement and produced while disabled), signed; enabling twice changes nothing', async () => {
    const s = await seller();
    const endpoint = await register(s.auth, '/re-enabled');
    await checkout(s.sellerId);
    await arrivals('/re-enabled', 1);
    const delivered = await waitFor('DELIVERED', async () => (await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}/deliveries?status=DELIVERED`, s.auth)).json.deliveries[0] as Json | undefined);
    // Disabled as the delivery activity does after days of failures: pending deliveries FAILED.
    const { pool } = createDb({ url: testConfig().DATABASE_URL, poolMax: 1, applicationName: 'webhooks-enable-test' });
    try {
      await pool.query(`update webhook_endpoints set status = 'DISABLED', disabled_reason = 'every delivery failed for more than 259200 s (test)', failing_since = now() - interval '3 days' where id = $1`, [endpoint.id]);
      await pool.query(`insert into webhook_deliveries (id, endpoint_id, event_id, resend_of, status, last_error) values (gen_random_uuid(), $1, $2, $3, 'FAILED', 'endpoint disabled')`, [endpoint.id, delivered.eventId, delivered.deliveryId]);
    } finally {
      await pool.end();
    }
    // While disabled: a capture produces an event the relay does not send here.
    const missedOrder = await checkout(s.sellerId, 2_000);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(receiver.on('/re-enabled')).toHaveLength(1);
    expect((await call('GET', `/api/v1/webhook-endpoints/${endpoint.id}`, s.auth)).json).toMatchObject({ status: 'DISABLED', disabledReason: expect.stringContaining('failed') });
    // Another seller cannot enable it; an unknown id is 404.
    expect((await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/enable`, (await seller()).auth)).status).toBe(404);
    expect((await call('POST', '/api/v1/webhook-endpoints/00000000-0000-4000-8000-000000000000/enable', s.auth)).status).toBe(404);

    const enabled = await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/enable`, s.auth);
    expect(enabled.status).toBe(200);
    expect(enabled.json).toMatchObject({ id: endpoint.id, status: 'ENABLED', disabledReason: null, failingSince: null, redelivering: 2 });
    const hooks = await arrivals('/re-enabled', 3);
    const events = hooks.slice(1).map(eventOf);
    expect(events.map((e) => e.id)).toContain(delivered.eventId);
    expect(events.find((e) => e.id !== delivered.eventId)).toMatchObject({ type: 'payment_order.captured', data: { paymentOrderId: missedOrder } });
    for (const h of hooks) expect(verifyWebhookSignature({ payload: h.body, header: h.headers['payorch-signature'] as string, secret: endpoint.secret }).ok).toBe(true);
    const again = await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/enable`, s.auth);
    expect(again.json).toMatchObject({ status: 'ENABLED', redelivering: 0 });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(receiver.on('/re-enabled')).toHaveLength(3);
  });

  test('rotation: a new secret once; during the grace period deliveries verify with the old and the new', async () => {
    const s = await seller();
    const endpoint = await register(s.auth, '/rotate');
    const rotated = await call('POST', `/api/v1/webhook-endpoints/${endpoint.id}/rotate-secret`, s.auth);
    expect(rotated.status).toBe(200);
    expect(rotated.json.secret).not.toBe(endpoint.secret);
    expect(Date.parse(rotated.json.previousSecretExpiresAt)).toBeGreaterThan(Date.now());
    await checkout(s.sellerId);
    const [hook] = await arrivals('/rotate', 1);
    const header = hook!.headers['payorch-signature'] as string;
    expect(header.split(',')).toHaveLength(3);
    expect(verifyWebhookSignature({ payload: hook!.body, header, secret: rotated.json.secret }).ok).toBe(true);
    expect(verifyWebhookSignature({ payload: hook!.body, header, secret: endpoint.secret }).ok).toBe(true);
  });

  test('SSRF: metadata, private and loopback targets are refused with a clear 400 (development policy of this run)', async () => {
    const s = await seller();
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://10.0.0.1/hook', 'https://[::ffff:169.254.169.254]/', 'http://example.com/hook']) {
      const res = await call('POST', '/api/v1/webhook-endpoints', s.auth, { url, events: ['payment_order.captured'] });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ type: 'https://payorch.dev/problems/invalid-webhook-url', errors: [{ pointer: '/url' }] });
    }
    expect((await call('GET', '/api/v1/webhook-endpoints', s.auth)).json.endpoints).toEqual([]);
  });

  test('SSRF: an API with the production policy refuses http, metadata, private addresses and a name resolving to loopback, with 400', async () => {
    const config = testConfig();
    const log = createLogger({ name: 'webhooks-test', level: 'silent' });
    const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'webhooks-test' });
    // This machine's DNS has no dotted name that resolves to loopback (only `localhost` and the
    // single-label host name, both refused by name), so one DNS answer is supplied; every other
    // name goes to the system resolver. The sender test checks the real resolver at delivery time.
    const resolve: Resolver = (host) => (host === 'rebind.payorch-test.example' ? Promise.resolve(['93.184.215.14', '127.0.0.1']) : systemResolver(host));
    const pass: express.RequestHandler = (_req, _res, next) => next();
    const limits = { byIp: () => pass, byClient: () => pass } as unknown as RateLimits;
    const app = express();
    app.use(webhooksRouter({ auth: createAuthenticator(config), webhooks: createWebhooksService({ db, urlPolicy: 'production', secretGraceS: 60, wake: () => Promise.resolve(), log, resolve }), limits, bodyLimitBytes: 65_536 }));
    app.use(errorMiddleware(log));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const s = await seller();
      const refused: Array<[string, string]> = [
        ['http://169.254.169.254/latest/meta-data/', 'must be an https URL'],
        ['https://169.254.169.254/latest/meta-data/', 'metadata address'],
        ['http://10.0.0.1/hook', 'must be an https URL'],
        ['https://10.0.0.1/hook', 'private'],
        ['https://rebind.payorch-test.example/hook', 'resolves to 127.0.0.1'],
        ['https://nx.payorch-test.invalid/hook', 'could not be resolved'],
        ['https://localhost/hook', 'is local'],
        [receiver.url('/prod'), 'must be an https URL'],
      ];
      for (const [url, why] of refused) {
        const res = await call('POST', '/api/v1/webhook-endpoints', s.auth, { url, events: ['payment_order.captured'] }, base);
        expect([url, res.status]).toEqual([url, 400]);
        expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
        expect(res.json.detail).toContain(why);
      }
      expect((await call('GET', '/api/v1/webhook-endpoints', s.auth, undefined, base)).json.endpoints).toEqual([]);
    } finally {
      server.close();
      await pool.end();
    }
  });
});
