/**
 * Rate limits across API replicas, CORS, and a Redis outage - against two real API processes
 * sharing one Redis of their own (started here, so it can be killed without touching the stack's).
 * Both processes run with small budgets in a 60 s window and trust one proxy hop, so each test
 * picks its own client IP with X-Forwarded-For. Every burst is bounded (at most 30 requests) and on
 * loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, testConfig, testEnv, token, uniqueId, waitFor } from './support';

type Answer = { status: number; headers: Headers; json: Record<string, any> };

const WRITES_PER_CLIENT = 10;
const WRITES_PER_IP = 15;
const READS_PER_CLIENT = 20;
const ORIGIN = 'https://shop.example';

describe('rate limits shared by two API processes, CORS, Redis outage', () => {
  let redisPort: number;
  let redisProcess: ChildProcess | undefined;
  let apiA: Service;
  let apiB: Service;
  let pg: Client;
  const url = (s: Service) => `http://127.0.0.1:${s.port}`;

  const startRedis = async () => {
    redisProcess = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    await waitFor('the private Redis', async () => {
      await probe.connect().catch(() => undefined);
      return (await probe.ping()) === 'PONG';
    }, 10_000);
    probe.disconnect();
  };
  const killRedis = async () => {
    const child = redisProcess!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    redisProcess = undefined;
  };

  beforeAll(async () => {
    redisPort = await freePort();
    await startRedis();
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    const [portA, portB] = [await freePort(), await freePort()];
    const common = {
      ...testEnv().env,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      RATE_LIMIT_REDIS_PREFIX: `${uniqueId('rl')}:`,
      RATE_LIMIT_WINDOW_S: '60',
      RATE_LIMIT_WRITES_PER_CLIENT: String(WRITES_PER_CLIENT),
      RATE_LIMIT_WRITES_PER_IP: String(WRITES_PER_IP),
      RATE_LIMIT_READS_PER_CLIENT: String(READS_PER_CLIENT),
      RATE_LIMIT_READS_PER_IP: '1000',
      API_TRUST_PROXY: '1',
      API_CORS_ORIGINS: ORIGIN,
    };
    const logDir = path.join(DATA_DIR, 'logs', 'test');
    // A lets writes through an in-process limiter while Redis is down; B refuses them.
    [apiA, apiB] = await Promise.all([
      startService({ name: 'api-rate-limit-a', entry: 'api/main.ts', root: ROOT, logDir, port: portA, env: { ...common, API_PORT: String(portA), RATE_LIMIT_WRITES_ON_REDIS_DOWN: 'open' } }),
      startService({ name: 'api-rate-limit-b', entry: 'api/main.ts', root: ROOT, logDir, port: portB, env: { ...common, API_PORT: String(portB), RATE_LIMIT_WRITES_ON_REDIS_DOWN: 'closed' } }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([apiA, apiB].filter(Boolean).map((s) => stopService(s)));
    if (redisProcess) await killRedis();
    await pg?.end();
  });

  const checkoutBody = () =>
    JSON.stringify({
      buyerId: 'rl-buyer',
      orderId: uniqueId('rl-order'),
      totalAmount: { quantity: 1200, currency: 'EUR' },
      paymentOrders: [{ sellerId: uniqueId('rl-seller'), amount: { quantity: 1200, currency: 'EUR' } }],
      paymentMethod: { token: 'tok_visa' },
    });
  const answer = async (res: Response): Promise<Answer> => {
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
  const write = async (api: Service, jwt: string, ip: string, payload = checkoutBody()) =>
    answer(await fetch(`${url(api)}/api/v1/payments`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': randomUUID(), 'x-forwarded-for': ip }, body: payload }));
  const read = async (api: Service, jwt: string, ip: string) =>
    answer(await fetch(`${url(api)}/api/v1/payments/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${jwt}`, 'x-forwarded-for': ip } }));
  const expect429 = (r: Answer, who: RegExp) => {
    expect(r.status).toBe(429);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.json).toMatchObject({ type: 'https://payorch.dev/problems/rate-limited', status: 429, detail: expect.stringMatching(who) });
    const retryAfter = Number(r.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(r.headers.get('ratelimit-remaining')).toBe('0');
  };

  test('one client write budget holds across both processes; then the IP budget stops another client', async () => {
    const ip = '10.20.0.1';
    const client1 = await token({ sub: uniqueId('burst-client'), scope: 'payments:write' });
    const results: Array<Answer & { api: string }> = [];
    for (let i = 0; i < 14; i++) {
      const api = i % 2 === 0 ? apiA : apiB;
      results.push({ ...(await write(api, client1, ip)), api: api.name });
    }
    expect(results.map((r) => r.status)).toEqual([...Array<number>(WRITES_PER_CLIENT).fill(202), 429, 429, 429, 429]);
    // Both processes admitted requests and both refused them: the count is shared, not per process.
    expect(new Set(results.filter((r) => r.status === 202).map((r) => r.api))).toEqual(new Set([apiA.name, apiB.name]));
    expect(new Set(results.filter((r) => r.status === 429).map((r) => r.api))).toEqual(new Set([apiA.name, apiB.name]));
    // Successful answers carry the budget too, counting down across the processes.
    expect(results.slice(0, WRITES_PER_CLIENT).map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
    expect(results[0]!.headers.get('ratelimit-limit')).toBe(String(WRITES_PER_CLIENT));
    expect(Number(results[0]!.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(60);
    for (const r of results.slice(WRITES_PER_CLIENT)) expect429(r, /write budget of this client \(10 requests per 60 s\)/);

    // The IP has spent 14 of its 15 writes: another client from it gets one, then the IP's 429.
    const client2 = await token({ sub: uniqueId('burst-client'), scope: 'payments:write' });
    expect((await write(apiB, client2, ip)).status).toBe(202);
    expect429(await write(apiA, client2, ip), /write budget of this IP address \(15 requests per 60 s\)/);
    // The same client from another IP still has its own budget.
    expect((await write(apiA, client2, '10.20.0.2')).status).toBe(202);
  }, 60_000);

  test('reads have their own budget, shared by both processes', async () => {
    const ip = '10.20.1.1';
    const reader = await token({ sub: uniqueId('reader'), scope: 'payments:read' });
    const statuses: number[] = [];
    for (let i = 0; i < READS_PER_CLIENT + 5; i++) {
      const r = await read(i % 2 === 0 ? apiA : apiB, reader, ip);
      statuses.push(r.status);
      if (r.status === 429) expect429(r, /read budget of this client/);
    }
    expect(statuses).toEqual([...Array<number>(READS_PER_CLIENT).fill(404), 429, 429, 429, 429, 429]);
  }, 30_000);

  test('CORS answers only the configured origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${url(apiA)}/api/v1/payments`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
    const allowed = await preflight(ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Idempotency-Key/);
    const denied = await preflight('https://evil.example');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${url(apiB)}/openapi.json`, { headers: { origin: ORIGIN } });
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/RateLimit-Remaining/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  test('Redis down: reads pass unlimited, writes pass under the in-process limit (open) or get 503 (closed); back when Redis is', async () => {
    await killRedis();
    const reader = await token({ sub: uniqueId('reader-outage'), scope: 'payments:read' });
    // Reads fail open: beyond their budget, and without RateLimit headers (nothing was counted).
    const reads: Answer[] = [];
    for (let i = 0; i < READS_PER_CLIENT + 5; i++) reads.push(await read(i % 2 === 0 ? apiA : apiB, reader, '10.20.2.1'));
    expect(reads.map((r) => r.status)).toEqual(Array<number>(READS_PER_CLIENT + 5).fill(404));
    expect(reads.every((r) => r.headers.get('ratelimit-limit') === null)).toBe(true);

    // Writes on A (open): a checkout still works without Redis, under a per-process budget.
    const writer = await token({ sub: uniqueId('writer-outage'), scope: 'payments:write' });
    const writes: Answer[] = [];
    for (let i = 0; i < WRITES_PER_CLIENT + 2; i++) writes.push(await write(apiA, writer, '10.20.2.2'));
    expect(writes.map((r) => r.status)).toEqual([...Array<number>(WRITES_PER_CLIENT).fill(202), 429, 429]);
    expect429(writes[WRITES_PER_CLIENT]!, /write budget of this client/);

    // Writes on B (closed): 503 with Retry-After, and nothing recorded.
    const payload = checkoutBody();
    const refused = await write(apiB, writer, '10.20.2.3', payload);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(refused.json.detail).toMatch(/RATE_LIMIT_WRITES_ON_REDIS_DOWN=closed/);
    const orderId = (JSON.parse(payload) as { orderId: string }).orderId;
    expect((await pg.query('select 1 from payments where order_id = $1', [orderId])).rowCount).toBe(0);

    // Redis returns (empty): both processes count in it again.
    await startRedis();
    const after = await token({ sub: uniqueId('reader-after'), scope: 'payments:read' });
    await waitFor('B counting in Redis again', async () => (await read(apiB, after, '10.20.3.1')).headers.get('ratelimit-limit') !== null, 20_000, 250);
    expect((await write(apiB, writer, '10.20.3.2')).status).toBe(202);
  }, 90_000);
});
