/**
 * Token rules of api/auth.ts through a real HTTP round trip: exp required, maximum lifetime, nbf
 * and iat with the clock tolerance, claim shapes; and JWKS key rotation against a real JWKS HTTP
 * server on loopback (a new kid is fetched and accepted, a removed one is refused once the cached
 * set is older than its maximum age).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { parseConfig } from '../config/config';
import { createLogger } from '../observability/logger';
import { createAuthenticator, type AuthSettings, type Principal } from './auth';
import { errorMiddleware } from './problem';

const SECRET = 'auth-test-secret-auth-test-secret-0000';
const now = () => Math.floor(Date.now() / 1_000);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A tiny app: authenticate, then echo the principal. */
async function startApp(settings: AuthSettings): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  const auth = createAuthenticator(settings);
  app.get('/whoami', auth.authenticate, (_req, res) => {
    const p = res.locals.principal as Principal;
    res.json({ subject: p.subject, clientId: p.clientId, sellerId: p.sellerId ?? null, scopes: [...p.scopes] });
  });
  app.use(errorMiddleware(createLogger({ name: 'auth-test', level: 'silent' })));
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}

async function call(url: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/whoami`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('token rules (HS256)', () => {
  const config = parseConfig({ AUTH_DEV_SECRET: SECRET });
  let app: Awaited<ReturnType<typeof startApp>>;
  beforeAll(async () => {
    app = await startApp(config);
  });
  afterAll(() => app.close());

  /** Claims are set exactly as given: nothing is added, so a test can leave out exp or iat. */
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ sub: 'client-1', iss: config.AUTH_ISSUER, aud: config.AUTH_AUDIENCE, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));

  test('a token within the rules is accepted; the client is azp when present, else sub', async () => {
    const t = now();
    expect(await call(app.url, await sign({ iat: t, exp: t + 600, scope: 'payments:read' }))).toEqual({ status: 200, body: { subject: 'client-1', clientId: 'client-1', sellerId: null, scopes: ['payments:read'] } });
    expect((await call(app.url, await sign({ iat: t, exp: t + 600, azp: 'shop-backend', seller_id: 's-1' }))).body).toMatchObject({ subject: 'client-1', clientId: 'shop-backend', sellerId: 's-1' });
  });

  test('exp is required', async () => {
    const res = await call(app.url, await sign({ iat: now() }));
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/no expiry/);
  });

  test('the lifetime may not exceed AUTH_TOKEN_MAX_LIFETIME_S (exp - iat, else exp - now)', async () => {
    const t = now();
    expect((await call(app.url, await sign({ iat: t, exp: t + 3_600 }))).status).toBe(200);
    expect((await call(app.url, await sign({ iat: t, exp: t + 3_601 }))).status).toBe(401);
    const tenYears = await call(app.url, await sign({ iat: t, exp: t + 10 * 365 * 86_400 }));
    expect(tenYears.status).toBe(401);
    expect(tenYears.body.detail).toMatch(/lives 315360000 s, more than 3600 s/);
    // Without iat, what is left counts.
    expect((await call(app.url, await sign({ exp: t + 600 }))).status).toBe(200);
    expect((await call(app.url, await sign({ exp: t + 7_200 }))).status).toBe(401);
    // An old iat with a near exp is a long-lived token all the same.
    expect((await call(app.url, await sign({ iat: t - 86_400, exp: t + 60 }))).status).toBe(401);
  });

  test('nbf and iat in the future are refused beyond the clock tolerance (5 s)', async () => {
    const t = now();
    const notYet = await call(app.url, await sign({ iat: t, nbf: t + 60, exp: t + 600 }));
    expect(notYet.status).toBe(401);
    expect(notYet.body.detail).toMatch(/not valid yet/);
    expect((await call(app.url, await sign({ iat: t, nbf: t + 3, exp: t + 600 }))).status).toBe(200);
    expect((await call(app.url, await sign({ iat: t + 60, exp: t + 600 }))).status).toBe(401);
    expect((await call(app.url, await sign({ iat: t + 3, exp: t + 600 }))).status).toBe(200);
    // exp just past, within the tolerance, still passes; beyond it, it has expired.
    expect((await call(app.url, await sign({ iat: t - 60, exp: t - 2 }))).status).toBe(200);
    expect((await call(app.url, await sign({ iat: t - 60, exp: t - 10 }))).body.detail).toBe('The token has expired.');
  });

  test('malformed claims are refused: subject, azp, seller_id', async () => {
    const t = now();
    const times = { iat: t, exp: t + 600 };
    for (const claims of [{ sub: '' }, { sub: 'x'.repeat(257) }, { azp: 7 }, { seller_id: 42 }, { seller_id: 'x'.repeat(65) }, { seller_id: 'a\u0000b' }, { seller_id: '' }]) {
      expect([claims, (await call(app.url, await sign({ ...times, ...claims }))).status]).toEqual([claims, 401]);
    }
  });
});

describe('JWKS rotation against a local JWKS server', () => {
  let keys: JWK[] = [];
  let fetches = 0;
  const jwksServer = createServer((_req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  let app: Awaited<ReturnType<typeof startApp>>;
  const pairs: Record<string, { privateKey: KeyLike; jwk: JWK }> = {};

  beforeAll(async () => {
    for (const kid of ['k1', 'k2', 'k3']) {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      pairs[kid] = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
    }
    const jwksUrl = `${await listen(jwksServer)}/.well-known/jwks.json`;
    const settings = parseConfig({ AUTH_MODE: 'jwks', AUTH_JWKS_URL: jwksUrl, AUTH_JWKS_CACHE_MAX_AGE_S: '3', AUTH_JWKS_COOLDOWN_S: '1' });
    app = await startApp(settings);
  });
  afterAll(async () => {
    await app.close();
    await new Promise((r) => jwksServer.close(r));
  });

  const signWith = (kid: string) =>
    new SignJWT({ scope: 'payments:read' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setSubject('jwks-client')
      .setIssuer('payorch-dev')
      .setAudience('payorch-api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(pairs[kid]!.privateKey);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('a new kid is fetched and accepted; a removed kid is refused after the cache max age', async () => {
    keys = [pairs.k1!.jwk];
    expect((await call(app.url, await signWith('k1'))).status).toBe(200);
    expect(fetches).toBe(1);

    // The issuer publishes k2. After the cooldown an unknown kid makes the API fetch the set again.
    keys = [pairs.k1!.jwk, pairs.k2!.jwk];
    await sleep(1_100);
    expect((await call(app.url, await signWith('k2'))).status).toBe(200);
    expect(fetches).toBe(2);

    // The issuer removes k1: the cached set still holds it until it is 3 s old, then it is refetched.
    keys = [pairs.k2!.jwk];
    const removedAt = Date.now();
    const cached = await call(app.url, await signWith('k1'));
    if (Date.now() - removedAt < 2_500) expect(cached.status).toBe(200);
    await sleep(3_100);
    expect((await call(app.url, await signWith('k1'))).status).toBe(401);
    expect(fetches).toBe(3);
    expect((await call(app.url, await signWith('k2'))).status).toBe(200);

    // A kid the issuer never published is refused, and within the cooldown costs no fetch.
    const before = fetches;
    expect((await call(app.url, await signWith('k3'))).status).toBe(401);
    expect((await call(app.url, await signWith('k3'))).status).toBe(401);
    expect(fetches - before).toBeLessThanOrEqual(1);
  }, 20_000);
});
