/**
 * The checkout API against the real stack: the run's API process, worker, PSP simulator,
 * Postgres and Temporal. Every rejected request is checked to have persisted nothing.
 */
import { Client } from 'pg';
import { testConfig, testEnv, token, uniqueId, waitFor } from '../test/support';
import { requestHash } from './payments.service';

type Json = Record<string, any>;

const body = (overrides: Json = {}) => ({
  buyerId: uniqueId('buyer'),
  orderId: uniqueId('order'),
  totalAmount: { quantity: 3000, currency: 'EUR' },
  paymentOrders: [
    { sellerId: uniqueId('seller'), amount: { quantity: 1000, currency: 'EUR' } },
    { sellerId: uniqueId('seller'), amount: { quantity: 2000, currency: 'EUR' } },
  ],
  paymentMethod: { token: 'tok_visa' },
  ...overrides,
});

describe('POST /api/v1/payments and GET /api/v1/payments/{id}', () => {
  let pg: Client;
  let writer: string;
  const api = () => testEnv().apiBaseUrl;

  beforeAll(async () => {
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    writer = await token({ scope: 'payments:write payments:read' });
  });
  afterAll(async () => {
    await pg.end();
  });

  const post = async (payload: unknown, options: { key?: string | null; auth?: string | null; contentType?: string; raw?: string } = {}) => {
    const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
    if (options.auth !== null) headers.authorization = `Bearer ${options.auth ?? writer}`;
    if (options.key !== null) headers['idempotency-key'] = options.key ?? uniqueId('key');
    const res = await fetch(`${api()}/api/v1/payments`, { method: 'POST', headers, body: options.raw ?? JSON.stringify(payload) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const get = async (paymentId: string, auth = writer) => {
    const res = await fetch(`${api()}/api/v1/payments/${paymentId}`, { headers: { authorization: `Bearer ${auth}` } });
    return { status: res.status, json: (await res.json()) as Json, headers: res.headers };
  };
  const countRows = async (orderId: string) => {
    const r = await pg.query<{ n: number }>('select count(*)::int as n from payments where order_id = $1', [orderId]);
    return r.rows[0]!.n;
  };
  const keyRows = async (key: string) => (await pg.query<{ n: number }>('select count(*)::int as n from idempotency_keys where key = $1', [key])).rows[0]!.n;
  const expectProblem = (res: { status: number; headers: Headers; json: Json }, status: number) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.json).toEqual(expect.objectContaining({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), instance: expect.any(String), traceId: expect.stringMatching(/^[0-9a-f]{32}$/) }));
  };

  test('202 with Location; the payment is recorded and every order reaches CAPTURED', async () => {
    const request = body();
    const res = await post(request);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/payments/${res.json.paymentId}`);
    expect(res.json).toMatchObject({ status: 'AUTHORIZED', buyerId: request.buyerId, orderId: request.orderId, totalAmount: request.totalAmount });
    expect(res.json.paymentOrders).toHaveLength(2);
    expect(res.json.paymentOrders[0]).toMatchObject({ sellerId: request.paymentOrders[0]!.sellerId, amount: { quantity: 1000, currency: 'EUR' }, status: 'INITIATED_PENDING' });
    const final = await waitFor('payment CAPTURED', async () => {
      const r = await get(res.json.paymentId);
      return r.json.status === 'CAPTURED' ? r.json : undefined;
    });
    expect(final.paymentOrders.map((o: Json) => [o.status, o.captureAttempts])).toEqual([
      ['CAPTURED', 1],
      ['CAPTURED', 1],
    ]);
    // The PSP's capture ids are stored and shown, and they are the PSP's own.
    const log = (await (await fetch(`${testEnv().pspBaseUrl}/v1/captures/log?reference=${final.paymentOrders[0].paymentOrderId}`)).json()) as { captures: Array<{ captureId: string }> };
    expect(final.paymentOrders[0].pspCaptureId).toBe(log.captures[0]!.captureId);
    expect(Date.parse(final.authorizationExpiresAt)).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
  });

  test('402 for a declined card, with paymentId and the reason; orders recorded as DECLINED', async () => {
    const request = body({ paymentMethod: { token: 'tok_chargeDeclined' } });
    const res = await post(request);
    expectProblem(res, 402);
    expect(res.json).toMatchObject({ paymentId: expect.any(String), declineReason: 'card_declined' });
    const stored = await get(res.json.paymentId);
    expect(stored.json.status).toBe('DECLINED');
    expect(stored.json.paymentOrders.every((o: Json) => o.status === 'DECLINED')).toBe(true);
  });

  test('replaying a completed key returns the first response with Idempotent-Replayed', async () => {
    const key = uniqueId('replay');
    const request = body();
    const first = await post(request, { key });
    const second = await post(request, { key });
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.json).toEqual(first.json);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const declined = body({ paymentMethod: { token: 'tok_chargeDeclined' } });
    const k2 = uniqueId('replay402');
    const d1 = await post(declined, { key: k2 });
    const d2 = await post(declined, { key: k2 });
    expect([d1.status, d2.status, d2.headers.get('idempotent-replayed')]).toEqual([402, 402, 'true']);
    expect(d2.json).toEqual(d1.json);
    expect(await countRows(request.orderId)).toBe(1);
  });

  test('422 when a key is reused with a different body; nothing new is persisted', async () => {
    const key = uniqueId('reuse');
    const request = body();
    expect((await post(request, { key })).status).toBe(202);
    const other = { ...request, totalAmount: { quantity: 3001, currency: 'EUR' }, paymentOrders: [request.paymentOrders[0], { ...request.paymentOrders[1], amount: { quantity: 2001, currency: 'EUR' } }] };
    expectProblem(await post(other, { key }), 422);
    expect(await countRows(request.orderId)).toBe(1);
  });

  test('20 concurrent requests with one key create exactly one payment', async () => {
    const key = uniqueId('race');
    const request = body();
    const results = await Promise.all(Array.from({ length: 20 }, () => post(request, { key })));
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const accepted = results.filter((r) => r.status === 202);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(accepted.map((r) => r.json.paymentId)).size).toBe(1);
    results.filter((r) => r.status === 409).forEach((r) => expect(r.headers.get('retry-after')).toBe('1'));
    expect(await countRows(request.orderId)).toBe(1);
    // Once finished, the key replays the one payment.
    const after = await post(request, { key });
    expect([after.status, after.json.paymentId]).toEqual([202, accepted[0]!.json.paymentId]);
  });

  test('409 while the same key is in flight; after its lease expires a retry takes over the same paymentId', async () => {
    const request = body();
    const hash = requestHash(request);
    const inFlight = uniqueId('inflight');
    await pg.query(`insert into idempotency_keys (principal, key, request_hash, status, payment_id, locked_until) values ('test-client', $1, $2, 'IN_FLIGHT', gen_random_uuid(), now() + interval '1 minute')`, [inFlight, hash]);
    const busy = await post(request, { key: inFlight });
    expectProblem(busy, 409);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(await countRows(request.orderId)).toBe(0);

    // A request that died in flight: its lease has expired, so the retry proceeds with its paymentId.
    const abandoned = uniqueId('abandoned');
    const paymentId = '11111111-2222-4333-8444-' + Date.now().toString(16).padStart(12, '0').slice(-12);
    await pg.query(`insert into idempotency_keys (principal, key, request_hash, status, payment_id, locked_until) values ('test-client', $1, $2, 'IN_FLIGHT', $3, now() - interval '1 second')`, [abandoned, hash, paymentId]);
    const retried = await post(request, { key: abandoned });
    expect(retried.status).toBe(202);
    expect(retried.json.paymentId).toBe(paymentId);
  });

  describe('every 400 rule, each listed with a pointer, nothing persisted', () => {
    const cases: Array<[string, Json, string]> = [
      ['missing field', { buyerId: undefined }, '/buyerId'],
      ['id too long', { orderId: 'x'.repeat(65) }, '/orderId'],
      ['zero amount', { totalAmount: { quantity: 0, currency: 'EUR' } }, '/totalAmount/quantity'],
      ['negative amount', { paymentOrders: [{ sellerId: 's1', amount: { quantity: -1000, currency: 'EUR' } }, { sellerId: 's2', amount: { quantity: 4000, currency: 'EUR' } }] }, '/paymentOrders/0/amount/quantity'],
      ['fractional amount', { totalAmount: { quantity: 30.5, currency: 'EUR' } }, '/totalAmount/quantity'],
      ['bad currency', { totalAmount: { quantity: 3000, currency: 'euro' } }, '/totalAmount/currency'],
      ['mixed currencies', { paymentOrders: [{ sellerId: 's1', amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: 's2', amount: { quantity: 2000, currency: 'USD' } }] }, '/paymentOrders/1/amount/currency'],
      ['sum differs', { totalAmount: { quantity: 2999, currency: 'EUR' } }, '/paymentOrders'],
      ['no orders', { paymentOrders: [] }, '/paymentOrders'],
      ['too many orders', { paymentOrders: Array.from({ length: 51 }, (_, i) => ({ sellerId: `s${i}`, amount: { quantity: 1, currency: 'EUR' } })), totalAmount: { quantity: 51, currency: 'EUR' } }, '/paymentOrders'],
      ['duplicate seller', { paymentOrders: [{ sellerId: 'same', amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: 'same', amount: { quantity: 2000, currency: 'EUR' } }] }, '/paymentOrders/1/sellerId'],
      ['unknown field', { coupon: 'FREE' }, '/coupon'],
    ];
    test.each(cases)('%s', async (_name, overrides, pointer) => {
      const request = body(overrides);
      const res = await post(request);
      expectProblem(res, 400);
      expect(res.json.errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer })]));
      expect(await countRows(request.orderId)).toBe(0);
    });

    test('several violations come back together', async () => {
      const res = await post(body({ buyerId: '', totalAmount: { quantity: -1, currency: 'eu' }, extra: 1 }));
      expectProblem(res, 400);
      expect(res.json.errors.length).toBeGreaterThanOrEqual(4);
    });

    test('missing or malformed Idempotency-Key', async () => {
      const request = body();
      expectProblem(await post(request, { key: null }), 400);
      expectProblem(await post(request, { key: 'has spaces and !' }), 400);
      expectProblem(await post(request, { key: 'k'.repeat(129) }), 400);
      expect(await countRows(request.orderId)).toBe(0);
    });

    test('malformed JSON', async () => {
      const key = uniqueId('malformed');
      expectProblem(await post(undefined, { raw: '{"buyerId": "b", ', key }), 400);
      expect(await keyRows(key)).toBe(0);
    });
  });

  test('401 without a token, with a bad signature, expired, or wrong audience', async () => {
    const request = body();
    const bad = [null, 'not-a-jwt', await token({ secret: 'another-secret-that-is-long-enough-0000' }), await token({ ttlSeconds: 1 }).then(async (t) => (await new Promise((r) => setTimeout(r, 7_000)), t)), await token({ audience: 'someone-else' })];
    for (const auth of bad) {
      const res = await post(request, { auth });
      expectProblem(res, 401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(await countRows(request.orderId)).toBe(0);
  }, 30_000);

  test('403 without the payments:write scope', async () => {
    const request = body();
    expectProblem(await post(request, { auth: await token({ scope: 'balances:read' }) }), 403);
    expect(await countRows(request.orderId)).toBe(0);
  });

  test('413 for a body over 64 KiB', async () => {
    const request = body({ buyerId: 'x'.repeat(70 * 1024) });
    expectProblem(await post(request), 413);
    expect(await countRows(request.orderId)).toBe(0);
  });

  test('415 for a body that is not JSON', async () => {
    const key = uniqueId('form');
    expectProblem(await post(undefined, { contentType: 'application/x-www-form-urlencoded', raw: 'buyerId=b', key }), 415);
    expectProblem(await post(undefined, { contentType: 'text/plain', raw: JSON.stringify(body()), key }), 415);
    expect(await keyRows(key)).toBe(0);
  });

  test('reads are owned: a seller sees only its own order, another seller gets the 404 of an unknown id, a token without scope or seller gets 403', async () => {
    const request = body({ paymentOrders: [{ sellerId: uniqueId('owner-a'), amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: uniqueId('owner-b'), amount: { quantity: 2000, currency: 'EUR' } }] });
    const created = await post(request);
    expect(created.status).toBe(202);
    const paymentId = created.json.paymentId as string;
    const [a, b] = request.paymentOrders.map((o: Json) => o.sellerId as string);
    await waitFor('payment CAPTURED', async () => ((await get(paymentId)).json.status === 'CAPTURED' ? true : undefined));

    const full = await get(paymentId);
    expect(full.json).toMatchObject({ view: 'full', status: 'CAPTURED', totalAmount: { quantity: 3000, currency: 'EUR' } });
    expect(full.json.paymentOrders.map((o: Json) => o.sellerId)).toEqual([a, b]);

    // Seller b (no scope at all) sees its own order; every payment-level figure is its share.
    const sellerB = await get(paymentId, await token({ sub: `seller:${b}`, scope: '', sellerId: b }));
    expect(sellerB.status).toBe(200);
    expect(sellerB.json).toMatchObject({ paymentId, view: 'seller', status: 'CAPTURED', buyerId: request.buyerId, orderId: request.orderId, totalAmount: { quantity: 2000, currency: 'EUR' } });
    expect(sellerB.json.paymentOrders).toEqual([expect.objectContaining({ sellerId: b, amount: { quantity: 2000, currency: 'EUR' }, status: 'CAPTURED' })]);
    expect(JSON.stringify(sellerB.json)).not.toContain(a);
    // A seller claim wins over scopes: a seller token with payments:read still sees only its own.
    const sellerAScoped = await get(paymentId, await token({ scope: 'payments:read', sellerId: a }));
    expect(sellerAScoped.json.paymentOrders.map((o: Json) => o.sellerId)).toEqual([a]);

    // Another seller: exactly the answer an unknown id gets (apart from instance and traceId).
    const outsider = await token({ sub: 'seller:outsider', scope: '', sellerId: uniqueId('outsider') });
    const foreign = await get(paymentId, outsider);
    const unknown = await get('00000000-0000-4000-8000-000000000000', outsider);
    expectProblem(foreign, 404);
    const comparable = (r: { status: number; json: Json }) => ({ status: r.status, type: r.json.type, title: r.json.title, detail: r.json.detail, keys: Object.keys(r.json).sort() });
    expect(comparable(foreign)).toEqual(comparable(unknown));

    // Neither a seller nor a reader: 403, for an existing id and an unknown one alike.
    const noScope = await token({ scope: 'balances:read' });
    expectProblem(await get(paymentId, noScope), 403);
    expectProblem(await get('00000000-0000-4000-8000-000000000000', noScope), 403);
  }, 30_000);

  test('an Idempotency-Key past its retention is a new request (new payment, no replay, no 422), even before the purge ran', async () => {
    const key = uniqueId('expired');
    const request = body();
    const first = await post(request, { key });
    expect(first.status).toBe(202);
    // The key's first request was eight days ago (retention: 7 days).
    await pg.query(`update idempotency_keys set created_at = now() - interval '8 days' where key = $1`, [key]);
    const again = await post(request, { key });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBeNull();
    expect(again.json.paymentId).not.toBe(first.json.paymentId);
    expect(await countRows(request.orderId)).toBe(2);
    // The renewed key replays the second payment now, and a different body is a 422 again.
    const replay = await post(request, { key });
    expect([replay.status, replay.headers.get('idempotent-replayed'), replay.json.paymentId]).toEqual([202, 'true', again.json.paymentId]);
    expectProblem(await post(body(), { key }), 422);
    // After expiry even a different body is simply a new request.
    await pg.query(`update idempotency_keys set created_at = now() - interval '8 days' where key = $1`, [key]);
    const other = body();
    const fresh = await post(other, { key });
    expect(fresh.status).toBe(202);
    expect(await countRows(other.orderId)).toBe(1);
    // A key seven days minus a minute old is still a replay.
    await pg.query(`update idempotency_keys set created_at = now() - interval '7 days' + interval '1 minute' where key = $1`, [key]);
    expect((await post(other, { key })).headers.get('idempotent-replayed')).toBe('true');
  }, 30_000);

  test('security headers and RateLimit headers on responses; no CORS headers when API_CORS_ORIGINS is unset', async () => {
    const res = await fetch(`${api()}/api/v1/payments/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${writer}`, origin: 'https://evil.example' } });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(Number(res.headers.get('ratelimit-limit'))).toBeGreaterThan(0);
    expect(Number(res.headers.get('ratelimit-remaining'))).toBeGreaterThanOrEqual(0);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
    const preflight = await fetch(`${api()}/api/v1/payments`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const openapi = await fetch(`${api()}/openapi.json`);
    expect([openapi.status, openapi.headers.get('x-content-type-options')]).toEqual([200, 'nosniff']);
  });

  test('GET: 404 for an unknown or malformed id, 401 without a token', async () => {
    expectProblem(await get('00000000-0000-4000-8000-000000000000'), 404);
    expectProblem(await get('not-a-uuid'), 404);
    const res = await fetch(`${api()}/api/v1/payments/00000000-0000-4000-8000-000000000000`);
    expect(res.status).toBe(401);
  });

  test('unknown routes are problem+json 404; /openapi.json documents exactly the routes', async () => {
    const res = await fetch(`${api()}/api/v1/nothing`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    const doc = (await (await fetch(`${api()}/openapi.json`)).json()) as Json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1/ops/ledger/adjustments',
      '/api/v1/ops/reconciliation/mismatches',
      '/api/v1/ops/reconciliation/mismatches/{mismatchId}/accept',
      '/api/v1/payments',
      '/api/v1/payments/{paymentId}',
      '/api/v1/payments/{paymentId}/cancel',
      '/api/v1/payments/{paymentId}/refunds',
      '/api/v1/payouts/{payoutId}',
      '/api/v1/refunds/{refundId}',
      '/api/v1/sellers/me/balance',
      '/api/v1/sellers/me/payouts',
      '/api/v1/sellers/{sellerId}/balance',
      '/api/v1/sellers/{sellerId}/payouts',
      '/api/v1/webhook-endpoints',
      '/api/v1/webhook-endpoints/{endpointId}',
      '/api/v1/webhook-endpoints/{endpointId}/deliveries',
      '/api/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}',
      '/api/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/resend',
      '/api/v1/webhook-endpoints/{endpointId}/enable',
      '/api/v1/webhook-endpoints/{endpointId}/rotate-secret',
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/readyz',
    ]);
  });

  test('/readyz checks what a checkout needs: Postgres and the PSP (not Temporal, Kafka or Redis: test/dependency-outages.int.test.ts)', async () => {
    const res = await fetch(`${api()}/readyz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).checks).toEqual({ postgres: 'ok', psp: 'ok' });
  });
});
