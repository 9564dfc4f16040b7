/**
 * Webhook delivery throughput (a benchmark, not a test): deliveries per second from the running
 * stack's worker to a real receiver on 127.0.0.1, for one endpoint and for many. For each case it
 * registers N endpoints (one seller each) pointing at the receiver, writes `--events` merchant
 * events spread evenly over their sellers - as state changes do, undispatched - and measures until
 * the receiver has every event id once: deliveries/s (events / time from the insert to the last
 * arrival), event -> arrival latency p50/p99, and duplicates. Then deletes what it created.
 *
 *   scripts/stack up all && npm run -s bench:webhooks -- --endpoints 1,100 --events 2000
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { inArray } from 'drizzle-orm';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { merchantEvents, webhookEndpoints } from '../db/schema';
import { ms, summarize } from './stats';

type CaseResult = { endpoints: number; events: number; seconds: number; deliveriesPerS: number; duplicates: number; latencyMs: ReturnType<typeof summarize>; complete: boolean };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '1,100' }, events: { type: 'string', default: '2000' }, 'timeout-s': { type: 'string', default: '60' } } });
  const config = loadConfigOrExit();
  const cases = values.endpoints.split(',').map(Number);
  const eventsTotal = Number(values.events);
  const timeoutMs = Number(values['timeout-s']) * 1_000;
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 4, applicationName: 'bench-webhooks' });

  // The receiver: counts arrivals per event id and the latency from the event's createdAt.
  const seen = new Map<string, number>();
  const latencies: number[] = [];
  let lastArrival = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; createdAt: string };
      const now = Date.now();
      const count = (seen.get(event.id) ?? 0) + 1;
      seen.set(event.id, count);
      if (count === 1) latencies.push(now - Date.parse(event.createdAt));
      lastArrival = now;
      res.writeHead(200).end('ok');
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  const results: CaseResult[] = [];
  try {
    for (const endpointsCount of cases) {
      seen.clear();
      latencies.length = 0;
      const run = randomUUID().slice(0, 8);
      const sellers = Array.from({ length: endpointsCount }, (_, i) => `bench-wh-${run}-${i}`);
      const endpointIds = sellers.map(() => randomUUID());
      await db.insert(webhookEndpoints).values(sellers.map((sellerId, i) => ({ id: endpointIds[i]!, sellerId, url, events: ['payment_order.captured'], secret: `whsec_bench_${run}`, status: 'ENABLED' })));
      const eventIds: string[] = [];
      const started = Date.now();
      for (let offset = 0; offset < eventsTotal; offset += 500) {
        const rows = Array.from({ length: Math.min(500, eventsTotal - offset) }, (_, j) => {
          const id = `evt_bench_${run}_${offset + j}`;
          eventIds.push(id);
          return { id, type: 'payment_order.captured', sellerId: sellers[(offset + j) % sellers.length]!, subjectId: randomUUID(), data: { bench: true } };
        });
        await db.insert(merchantEvents).values(rows);
      }
      const deadline = started + timeoutMs;
      while (seen.size < eventsTotal && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const seconds = ((seen.size === eventsTotal ? lastArrival : Date.now()) - started) / 1_000;
      const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
      const result = { endpoints: endpointsCount, events: seen.size, seconds, deliveriesPerS: seen.size / seconds, duplicates, latencyMs: summarize(latencies), complete: seen.size === eventsTotal };
      results.push(result);
      console.log(
        `${endpointsCount} endpoint(s): ${seen.size}/${eventsTotal} events in ${ms(seconds)} s = ${ms(result.deliveriesPerS)} deliveries/s; event -> arrival p50 ${ms(result.latencyMs.p50)} ms, p99 ${ms(result.latencyMs.p99)} ms; duplicates ${duplicates}${result.complete ? '' : ' (INCOMPLETE: timed out)'}`,
      );
      await db.delete(webhookEndpoints).where(inArray(webhookEndpoints.id, endpointIds));
      for (let i = 0; i < eventIds.length; i += 1_000) await db.delete(merchantEvents).where(inArray(merchantEvents.id, eventIds.slice(i, i + 1_000)));
    }
  } finally {
    server.closeAllConnections();
    server.close();
    await pool.end();
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `webhooks-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ settings: { batchMax: config.WEBHOOK_BATCH_MAX, concurrency: config.WEBHOOK_CONCURRENCY_PER_ENDPOINT, relayIntervalMs: config.WEBHOOK_RELAY_INTERVAL_MS }, results }, null, 2));
  console.log(`results: ${file}`);
  if (results.some((r) => !r.complete)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
