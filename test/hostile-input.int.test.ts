/**
 * The hostile-input catalogue: malformed, oversized, ambiguous and forged requests against every
 * endpoint of the run's API process. Each must get the right 4xx as problem+json with the security
 * headers; afterwards the process is still up and nothing was persisted for any of them. (A burst
 * above the rate limit needs API processes with small budgets: test/rate-limit.int.test.ts.)
 */
import net from 'node:net';
import { Client } from 'pg';
import { SignJWT, UnsecuredJWT } from 'jose';
import { testConfig, testEnv, token } from './support';

type Answer = { status: number; contentType: string | null; nosniff?: boolean };
type Case = { name: string; status: number; send: () => Promise<Answer> };

const ORDER_PREFIX = 'hostile-';
const SUB = 'hostile-client';

const body = (overrides: Record<string, unknown> = {}) => ({
  buyerId: 'hostile-buyer',
  orderId: `${ORDER_PREFIX}${Math.random().toString(36).slice(2)}`,
  totalAmount: { quantity: 3000, currency: 'EUR' },
  paymentOrders: [
    { sellerId: 'hostile-a', amount: { quantity: 1000, currency: 'EUR' } },
    { sellerId: 'hostile-b', amount: { quantity: 2000, currency: 'EUR' } },
  ],
  ...overrides,
});

/** Sends raw bytes over a socket (optionally one byte at a time) and reads the status line. */
function rawRequest(bytes: Buffer, options: { byteDelayMs?: number } = {}): Promise<Answer> {
  const { port } = new URL(testEnv().apiBaseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let response = '';
    socket.setTimeout(20_000, () => socket.destroy(new Error('no answer within 20 s')));
    socket.on('data', (d) => (response += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
      const contentType = /\r\ncontent-type: ([^\r\n]+)/i.exec(response)?.[1] ?? null;
      resolve({ status, contentType, nosniff: /\r\nx-content-type-options: nosniff\r\n/i.test(response) });
    });
    // The socket is not half-closed after the request: Node's HTTP server drops a request whose
    // client has ended its side before the answer is ready (as a real client never does), and the
    // answer may wait on I/O (the rate limiter asks Redis). `Connection: close` ends the exchange.
    socket.on('connect', async () => {
      if (!options.byteDelayMs) {
        socket.write(bytes);
        return;
      }
      for (const byte of bytes) {
        if (socket.destroyed) return;
        socket.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, options.byteDelayMs));
      }
    });
  });
}

const httpRequest = (method: string, path: string, headers: Record<string, string>, payload?: Buffer | string) => {
  const data = payload === undefined ? Buffer.alloc(0) : Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Content-Length: ${data.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), data]);
};

describe('hostile input catalogue', () => {
  let jwt: string;
  let pg: Client;
  /** A real payment of two other sellers, made by another client (captured), and one still capturing. */
  let othersPaymentId: string;
  let capturedOrderId: string;
  let otherCapturedOrderId: string;
  let pendingPaymentId: string;
  let pendingOrderId: string;
  const cases: Case[] = [];

  beforeAll(async () => {
    jwt = await token({ sub: SUB, scope: 'payments:write payments:read refunds:write' });
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    const created = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token({ sub: 'hostile-setup', scope: 'payments:write' })}`, 'content-type': 'application/json', 'idempotency-key': `setup-${Date.now()}` },
      body: JSON.stringify({ ...body(), buyerId: 'setup-buyer', orderId: `setup-${Date.now()}`, paymentOrders: [{ sellerId: 'owner-a', amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: 'owner-b', amount: { quantity: 2000, currency: 'EUR' } }] }),
    });
    expect(created.status).toBe(202);
    const createdBody = (await created.json()) as { paymentId: string; paymentOrders: Array<{ paymentOrderId: string }> };
    othersPaymentId = createdBody.paymentId;
    [capturedOrderId, otherCapturedOrderId] = createdBody.paymentOrders.map((o) => o.paymentOrderId) as [string, string];
    const pending = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token({ sub: 'hostile-setup', scope: 'payments:write' })}`, 'content-type': 'application/json', 'idempotency-key': `setup-pending-${Date.now()}` },
      body: JSON.stringify({ ...body(), buyerId: 'setup-buyer', orderId: `setup-pending-${Date.now()}`, paymentOrders: [{ sellerId: 'owner-c', amount: { quantity: 3000, currency: 'EUR' } }], paymentMethod: { token: 'tok_capture_retry_100000' } }),
    });
    const pendingBody = (await pending.json()) as { paymentId: string; paymentOrders: Array<{ paymentOrderId: string }> };
    [pendingPaymentId, pendingOrderId] = [pendingBody.paymentId, pendingBody.paymentOrders[0]!.paymentOrderId];
    // Refunds need a captured order: wait (bounded) for the setup payment's captures.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await pg.query<{ n: number }>(`select count(*)::int as n from payment_orders where payment_id = $1 and status = 'CAPTURED'`, [othersPaymentId]);
      if (rows[0]!.n === 2) break;
      if (Date.now() > deadline) throw new Error('the setup payment was not captured within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    // One real refund by another client, so that its key can be reused with another body below.
    const first = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments/${othersPaymentId}/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await token({ sub: 'hostile-reuser', scope: 'refunds:write' })}`, 'content-type': 'application/json', 'idempotency-key': 'hostile-reused-key' },
      body: JSON.stringify({ paymentOrderId: otherCapturedOrderId, amount: { quantity: 1, currency: 'EUR' }, reason: 'hostile-reuse-first' }),
    });
    expect(first.status).toBe(202);
  });
  afterAll(async () => {
    await pg.end();
  });

  const post = async (payload: string | Buffer, headers: Record<string, string> = {}) => {
    const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': `hostile-${Math.random().toString(36).slice(2)}`, ...headers },
      body: payload,
    });
    await res.arrayBuffer();
    return { status: res.status, contentType: res.headers.get('content-type'), nosniff: res.headers.get('x-content-type-options') === 'nosniff' };
  };
  const get = async (path: string, auth: string | null = jwt, headers: Record<string, string> = {}) => {
    const res = await fetch(`${testEnv().apiBaseUrl}${path}`, { headers: { ...(auth === null ? {} : { authorization: `Bearer ${auth}` }), ...headers } });
    await res.arrayBuffer();
    return { status: res.status, contentType: res.headers.get('content-type'), nosniff: res.headers.get('x-content-type-options') === 'nosniff' };
  };
  const add = (name: string, status: number, send: Case['send']) => cases.push({ name, status, send });
  const json = (v: unknown) => JSON.stringify(v);
  const withOrders = (quantityText: string) =>
    `{"buyerId":"b","orderId":"${ORDER_PREFIX}x","totalAmount":{"quantity":${quantityText},"currency":"EUR"},"paymentOrders":[{"sellerId":"s","amount":{"quantity":${quantityText},"currency":"EUR"}}]}`;

  // Malformed and truncated JSON.
  add('malformed JSON', 400, () => post('{"buyerId": "b",,}'));
  add('truncated JSON', 400, () => post('{"buyerId":"b","orderId"'));
  add('empty body', 400, () => post(''));
  add('top-level array', 400, () => post('[]'));
  add('top-level string', 400, () => post('"hello"'));
  add('top-level null', 400, () => post('null'));
  add('trailing garbage', 400, () => post(`${json(body())}xyz`));
  // Numbers.
  add('quantity beyond 2^53', 400, () => post(withOrders('9007199254740993')));
  add('quantity 1e400 (Infinity)', 400, () => post(withOrders('1e400')));
  add('quantity in exponent form', 400, () => post(withOrders('3e3')));
  add('quantity with a fraction of zero', 400, () => post(withOrders('3000.0')));
  add('zero amount', 400, () => post(withOrders('0')));
  add('negative amount', 400, () => post(withOrders('-1000')));
  add('fractional amount', 400, () => post(withOrders('10.5')));
  add('quantity as a string', 400, () => post(json(body({ totalAmount: { quantity: '3000', currency: 'EUR' } }))));
  add('mixed currencies', 400, () => post(json(body({ paymentOrders: [{ sellerId: 'a', amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: 'b', amount: { quantity: 2000, currency: 'USD' } }] }))));
  add('currency with a trailing space', 400, () => post(json(body({ totalAmount: { quantity: 3000, currency: 'EUR ' } }))));
  // Prototype pollution and odd keys.
  add('__proto__ key', 400, () => post(`{"__proto__":{"admin":true},${json(body()).slice(1)}`));
  add('constructor key', 400, () => post(`{"constructor":{"prototype":{"x":1}},${json(body()).slice(1)}`));
  add('__proto__ inside a payment order', 400, () => post(json(body()).replace('{"sellerId":"hostile-a"', '{"__proto__":{"x":1},"sellerId":"hostile-a"')));
  add('5,000 unknown keys', 400, () => post(`{${Array.from({ length: 5_000 }, (_, i) => `"k${i}":1`).join(',')}}`));
  // Size and shape.
  add('deeply nested body', 400, () => post(`${'['.repeat(20_000)}${']'.repeat(20_000)}`));
  add('deeply nested object in a field', 400, () => post(json(body({ buyerId: JSON.parse(`${'{"a":'.repeat(500)}1${'}'.repeat(500)}`) }))));
  add('10 MB body', 413, () => post(Buffer.alloc(10 * 1024 * 1024, 0x20)));
  add('51 payment orders', 400, () => post(json(body({ paymentOrders: Array.from({ length: 51 }, (_, i) => ({ sellerId: `s${i}`, amount: { quantity: 1, currency: 'EUR' } })), totalAmount: { quantity: 51, currency: 'EUR' } }))));
  add('body sent byte by byte (malformed)', 400, () => rawRequest(httpRequest('POST', '/api/v1/payments', { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': 'hostile-slow' }, '{"buyerId": oops}'), { byteDelayMs: 2 }));
  add('invalid UTF-8 in the body', 400, () => post(Buffer.concat([Buffer.from(`{"buyerId":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`",${json(body()).slice(1)}`)])));
  // Headers and ids.
  add('control characters in a header', 400, () => rawRequest(httpRequest('POST', '/api/v1/payments', { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': 'bad\x01key' }, json(body()))));
  add('64 KiB header', 431, () => rawRequest(httpRequest('GET', '/api/v1/payments/x', { authorization: `Bearer ${jwt}`, 'x-filler': 'a'.repeat(64 * 1024) })));
  add('Idempotency-Key of 129 characters', 400, () => post(json(body()), { 'idempotency-key': 'k'.repeat(129) }));
  add('Idempotency-Key with spaces and symbols', 400, () => post(json(body()), { 'idempotency-key': 'key with spaces!' }));
  add('Idempotency-Key with non-ASCII bytes', 400, () => rawRequest(httpRequest('POST', '/api/v1/payments', { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': 'k\xe9y' }, json(body()))));
  add('missing Idempotency-Key', 400, () => post(json(body()), { 'idempotency-key': '' }));
  add('payment id of 5,000 characters', 404, () => get(`/api/v1/payments/${'a'.repeat(5_000)}`));
  add('seller id of 500 characters', 400, () => get(`/api/v1/sellers/${'s'.repeat(500)}/balance`, null).then(async () => get(`/api/v1/sellers/${'s'.repeat(500)}/balance`, jwt)));
  add('content type text/plain', 415, () => post(json(body()), { 'content-type': 'text/plain' }));
  add('JSON in latin1', 415, () => post(json(body()), { 'content-type': 'application/json; charset=latin1' }));
  add('unsupported content-encoding', 415, () => post(json(body()), { 'content-encoding': 'compress' }));
  // Tokens.
  add('no token', 401, () => fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'hostile-nt' }, body: json(body()) }).then(async (r) => (await r.arrayBuffer(), { status: r.status, contentType: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options') === 'nosniff' })));
  add('Basic instead of Bearer', 401, () => get('/api/v1/payments/00000000-0000-4000-8000-000000000000', null, { authorization: 'Basic dXNlcjpwYXNz' }));
  add('JWT with alg none', 401, async () => get('/api/v1/payments/00000000-0000-4000-8000-000000000000', new UnsecuredJWT({ scope: 'payments:write payments:read' }).setSubject(SUB).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setExpirationTime('5m').encode()));
  add('JWT with a wrong signature', 401, async () => get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await token({ sub: SUB, secret: 'not-the-secret-not-the-secret-not-the-secret' })));
  add('expired JWT', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    const expired = await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject(SUB).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setIssuedAt(Math.floor(Date.now() / 1000) - 3_600).setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(secret);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', expired);
  });
  add('JWT for another audience', 401, async () => get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await token({ sub: SUB, audience: 'another-api' })));
  add('JWT from another issuer', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject(SUB).setIssuer('evil').setAudience(testConfig().AUTH_AUDIENCE).setExpirationTime('5m').sign(secret));
  });
  add('algorithm confusion (RS256 header, HMAC signature)', 401, async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: SUB, scope: 'payments:read', iss: testConfig().AUTH_ISSUER, aud: testConfig().AUTH_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    const { createHmac } = await import('node:crypto');
    const signature = createHmac('sha256', testConfig().AUTH_DEV_SECRET!).update(`${header}.${claims}`).digest('base64url');
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', `${header}.${claims}.${signature}`);
  });
  add('JWT without a subject', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setExpirationTime('5m').sign(secret));
  });
  add('JWT without exp', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject(SUB).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setIssuedAt().sign(secret));
  });
  add('JWT living 10 years', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject(SUB).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setIssuedAt().setExpirationTime('3650d').sign(secret));
  });
  add('JWT not valid before tomorrow (nbf)', 401, async () => {
    const secret = new TextEncoder().encode(testConfig().AUTH_DEV_SECRET);
    return get('/api/v1/payments/00000000-0000-4000-8000-000000000000', await new SignJWT({ scope: 'payments:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject(SUB).setIssuer(testConfig().AUTH_ISSUER).setAudience(testConfig().AUTH_AUDIENCE).setIssuedAt().setNotBefore('1d').setExpirationTime('30m').sign(secret));
  });
  add("a seller reading another seller's payment (same 404 as an unknown id)", 404, async () => get(`/api/v1/payments/${othersPaymentId}`, await token({ sub: 'seller:hostile', scope: '', sellerId: 'hostile-seller' })));
  add("a seller with payments:read reading another seller's payment", 404, async () => get(`/api/v1/payments/${othersPaymentId}`, await token({ sub: 'seller:hostile', scope: 'payments:read payments:write', sellerId: 'hostile-seller' })));
  add('reading a payment without a read scope or seller claim', 403, async () => get(`/api/v1/payments/${othersPaymentId}`, await token({ sub: SUB, scope: 'balances:read' })));
  add('a 10 KB bearer token', 401, () => get('/api/v1/payments/00000000-0000-4000-8000-000000000000', 'a'.repeat(10_000)));
  add('wrong scope for a checkout', 403, async () => post(json(body()), { authorization: `Bearer ${await token({ sub: SUB, scope: 'balances:read' })}` }));
  add("a seller reading another seller's balance", 403, async () => get('/api/v1/sellers/someone-else/balance', await token({ sub: SUB, scope: '', sellerId: 'hostile-seller' })));
  add('/sellers/me/balance without a seller claim', 403, () => get('/api/v1/sellers/me/balance'));
  // Cancel and refunds.
  const refund = (payload: unknown, options: { paymentId?: string; headers?: Record<string, string> } = {}) =>
    fetch(`${testEnv().apiBaseUrl}/api/v1/payments/${options.paymentId ?? othersPaymentId}/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': `hostile-${Math.random().toString(36).slice(2)}`, ...options.headers },
      body: typeof payload === 'string' ? payload : json(payload),
    }).then(async (r) => (await r.arrayBuffer(), { status: r.status, contentType: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options') === 'nosniff' }));
  const refundOf = (quantity: unknown, currency: unknown = 'EUR', paymentOrderId?: string) => ({ paymentOrderId: paymentOrderId ?? capturedOrderId, amount: { quantity, currency } });
  add('refund above the refundable amount', 422, () => refund(refundOf(1_001)));
  add('refund of an order not captured', 409, () => refund(refundOf(10, 'EUR', pendingOrderId), { paymentId: pendingPaymentId }));
  add('refund in another currency', 400, () => refund(refundOf(10, 'USD')));
  add('refund of zero', 400, () => refund(refundOf(0)));
  add('negative refund', 400, () => refund(refundOf(-10)));
  add('fractional refund', 400, () => refund(refundOf(10.5)));
  add('refund quantity in exponent form', 400, () => refund(`{"paymentOrderId":"${capturedOrderId}","amount":{"quantity":1e1,"currency":"EUR"}}`));
  add('refund of an unknown paymentOrderId', 404, () => refund(refundOf(10, 'EUR', '00000000-0000-4000-8000-000000000000')));
  add("refund of another payment's order", 404, () => refund(refundOf(10, 'EUR', pendingOrderId)));
  add('refund with an unknown field', 400, () => refund({ ...refundOf(10), refundAll: true }));
  add('refund without refunds:write', 403, async () => refund(refundOf(10), { headers: { authorization: `Bearer ${await token({ sub: SUB, scope: 'payments:write payments:read' })}` } }));
  add('refund key reused with another amount', 422, async () =>
    refund({ paymentOrderId: otherCapturedOrderId, amount: { quantity: 2, currency: 'EUR' }, reason: 'hostile-reuse-first' }, { headers: { authorization: `Bearer ${await token({ sub: 'hostile-reuser', scope: 'refunds:write' })}`, 'idempotency-key': 'hostile-reused-key' } }),
  );
  add('cancel of a payment with nothing left to cancel', 409, () =>
    fetch(`${testEnv().apiBaseUrl}/api/v1/payments/${othersPaymentId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'idempotency-key': `hostile-${Math.random().toString(36).slice(2)}` } }).then(async (r) => (await r.arrayBuffer(), { status: r.status, contentType: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options') === 'nosniff' })),
  );
  add('refund read of an unknown id', 404, () => get('/api/v1/refunds/00000000-0000-4000-8000-000000000000'));
  add('unknown route', 404, () => get('/api/v1/admin'));
  add('unsupported method on payments', 404, () => fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, { method: 'DELETE', headers: { authorization: `Bearer ${jwt}` } }).then(async (r) => (await r.arrayBuffer(), { status: r.status, contentType: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options') === 'nosniff' })));

  test('the catalogue has at least 40 requests', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  test('each request gets the right 4xx as problem+json; the process stays up; nothing is persisted', async () => {
    const results: Array<{ name: string; status: number; problemJson: boolean; securityHeaders: boolean }> = [];
    for (const c of cases) {
      const r = await c.send();
      results.push({ name: c.name, status: r.status, problemJson: (r.contentType ?? '').startsWith('application/problem+json'), securityHeaders: r.nosniff === true });
    }
    expect(results).toEqual(cases.map((c) => ({ name: c.name, status: c.status, problemJson: true, securityHeaders: true })));
    expect((await fetch(`${testEnv().apiBaseUrl}/healthz`)).status).toBe(200);
    const persisted = await pg.query<{ payments: number; keys: number }>(
      `select (select count(*)::int from payments where order_id like '${ORDER_PREFIX}%' or buyer_id = 'hostile-buyer') as payments, (select count(*)::int from idempotency_keys where principal = $1) as keys`,
      [SUB],
    );
    expect(persisted.rows[0]).toEqual({ payments: 0, keys: 0 });
    // The only refund is the setup's own; nothing was reserved by a refused refund.
    const refunds = await pg.query<{ reason: string | null }>('select reason from refunds where payment_id in ($1, $2)', [othersPaymentId, pendingPaymentId]);
    expect(refunds.rows).toEqual([{ reason: 'hostile-reuse-first' }]);
    const reserved = await pg.query<{ r: string }>('select sum(refund_reserved_minor)::text as r from payment_orders where payment_id in ($1, $2)', [othersPaymentId, pendingPaymentId]);
    expect(reserved.rows[0]!.r).toBe('1');
  }, 120_000);
});
