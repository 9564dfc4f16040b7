/**
 * Webhooks survive a worker kill: events are recorded while the receiver is down, the worker
 * fans them out and starts failing deliveries, then is killed (SIGKILL) mid-retry; the receiver
 * comes up and a new worker starts. Every event arrives, and after dedup by id exactly once each;
 * every delivery ends DELIVERED. Runs on its own database and task queue with its own worker, so
 * the run's worker neither helps nor interferes.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import { createMigratedDatabase, dropDatabase } from './databases';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, stackEnv, testEnv, uniqueId, waitFor } from './support';

describe('webhooks across a worker kill', () => {
  const name = `payorch_whkill_${Date.now().toString(36)}`;
  let url: string;
  let pg: Client;
  const services: Service[] = [];
  let receiver: http.Server | undefined;

  beforeAll(async () => {
    url = await createMigratedDatabase(stackEnv().DATABASE_URL!, name);
    pg = new Client({ connectionString: url });
    await pg.connect();
  });
  afterAll(async () => {
    for (const s of services) await stopService(s, 'SIGKILL');
    receiver?.closeAllConnections();
    receiver?.close();
    await pg.end();
    await dropDatabase(stackEnv().DATABASE_URL!, name).catch(() => undefined);
  });

  const startWorker = async (label: string) => {
    const [port, sdkPort] = [await freePort(), await freePort()];
    const env = {
      ...testEnv().env,
      DATABASE_URL: url,
      TEMPORAL_TASK_QUEUE: `payments-${name}`,
      WORKER_METRICS_PORT: String(port),
      WORKER_SDK_METRICS_PORT: String(sdkPort),
      WEBHOOK_BACKOFF_BASE_MS: '50',
      WEBHOOK_BACKOFF_CAP_MS: '400',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_SWEEP_MIN_AGE_MS: '1000',
    };
    const service = await startService({ name: `worker-whkill-${label}`, entry: 'temporal/worker.main.ts', env, port, root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test') });
    services.push(service);
    return service;
  };

  test('receiver down, worker killed mid-retry, receiver and a new worker up: every event once after dedup, every delivery DELIVERED', async () => {
    const receiverPort = await freePort(); // nothing listens yet: connection refused
    const sellerId = uniqueId('whkill');
    const endpointId = randomUUID();
    await pg.query(`insert into webhook_endpoints (id, seller_id, url, events, secret, status) values ($1, $2, $3, $4, 'whsec_kill', 'ENABLED')`, [endpointId, sellerId, `http://127.0.0.1:${receiverPort}/hook`, ['payment_order.captured', 'refund.succeeded']]);
    // As state changes write them: undispatched, in Postgres only.
    const eventIds = Array.from({ length: 30 }, (_, i) => `evt_kill_${name}_${i}`);
    for (const [i, id] of eventIds.entries()) {
      await pg.query(`insert into merchant_events (id, type, seller_id, subject_id, data) values ($1, $2, $3, $4, '{}')`, [id, i % 2 ? 'refund.succeeded' : 'payment_order.captured', sellerId, randomUUID()]);
    }

    const first = await startWorker('1');
    await waitFor('every event fanned out and failing against the dead receiver', async () => {
      const { rows } = await pg.query<{ n: string; tried: string }>(`select count(*)::text as n, count(*) filter (where attempts > 0)::text as tried from webhook_deliveries where endpoint_id = $1`, [endpointId]);
      return Number(rows[0]!.n) === eventIds.length && Number(rows[0]!.tried) >= 2;
    }, 60_000, 100);
    await stopService(first, 'SIGKILL');
    const { rows: pendingRows } = await pg.query<{ n: string }>(`select count(*)::text as n from webhook_deliveries where endpoint_id = $1 and status = 'PENDING'`, [endpointId]);
    expect(Number(pendingRows[0]!.n)).toBe(eventIds.length);

    const arrivals: string[] = [];
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        arrivals.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }).id);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(receiverPort, '127.0.0.1', resolve));
    await startWorker('2');

    await waitFor('every event received', () => Promise.resolve(new Set(arrivals).size === eventIds.length), 120_000, 100);
    await waitFor('every delivery DELIVERED', async () => {
      const { rows } = await pg.query<{ status: string; n: string }>(`select status, count(*)::text as n from webhook_deliveries where endpoint_id = $1 group by status`, [endpointId]);
      return rows.length === 1 && rows[0]!.status === 'DELIVERED' && Number(rows[0]!.n) === eventIds.length;
    }, 30_000, 100);
    expect([...new Set(arrivals)].sort()).toEqual([...eventIds].sort());
    // Every event was fanned out once (one delivery per event), whatever the kill interrupted.
    const { rows } = await pg.query<{ n: string }>(`select count(*)::text as n from merchant_events where dispatched_at is null`);
    expect(rows[0]!.n).toBe('0');
  });
});
