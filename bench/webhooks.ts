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
import path from 'node:path';
import { parseArgs } from 'node:util';
import { inArray } from 'drizzle-orm';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { merchantEvents } from '../db/schema';
import { ms, summarize } from './stats';
import { startWebhookSink } from './webhook-sink';

type CaseResult = { endpoints: number; events: number; seconds: number; deliveriesPerS: number; duplicates: number; latencyMs: ReturnType<typeof summarize>; complete: boolean };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { endpoints: { type: 'string', default: '1,100' }, events: { type: 'string', default: '2000' }, 'timeout-s': { type: 'string', default: '60' } } });
  const config = loadConfigOrExit();
  const cases = values.endpoints.split(',').map(Number);
  const eventsTotal = Number(values.events);
  const timeoutMs = Number(values['timeout-s']) * 1_000;
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 4, applicationName: 'bench-webhooks' });

  const sink = await startWebhookSink();
  const { seen, latencies } = sink;

  const results: CaseResult[] = [];
  try {
    for (const endpointsCount of cases) {
      sink.reset();
      const run = randomUUID().slice(0, 8);
      const sellers = Array.from({ length: endpointsCount }, (_, i) => `bench-wh-${run}-${i}`);
      const unregister = await sink.register(db, sellers, run);
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
      const seconds = ((seen.size === eventsTotal ? sink.lastArrival() : Date.now()) - started) / 1_000;
      const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
      const result = { endpoints: endpointsCount, events: seen.size, seconds, deliveriesPerS: seen.size / seconds, duplicates, latencyMs: summarize(latencies), complete: seen.size === eventsTotal };
      results.push(result);
      console.log(
        `${endpointsCount} endpoint(s): ${seen.size}/${eventsTotal} events in ${ms(seconds)} s = ${ms(result.deliveriesPerS)} deliveries/s; event -> arrival p50 ${ms(result.latencyMs.p50)} ms, p99 ${ms(result.latencyMs.p99)} ms; duplicates ${duplicates}${result.complete ? '' : ' (INCOMPLETE: timed out)'}`,
      );
      await unregister();
      for (let i = 0; i < eventIds.length; i += 1_000) await db.delete(merchantEvents).where(inArray(merchantEvents.id, eventIds.slice(i, i + 1_000)));
    }
  } finally {
    sink.close();
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
