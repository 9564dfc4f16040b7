/**
 * Checkout latency benchmark (not a test): drives POST /api/v1/payments of the running stack at
 * fixed request rates, open loop (requests are sent on schedule whether or not earlier ones have
 * answered), with the PSP simulator switched to BEST_PSP_EVER for the run, and reports the
 * latency percentiles of each rate. It then waits for every accepted payment to be captured.
 *
 *   scripts/stack up all && npm run -s bench:checkout -- [--rates 25,50,100] [--seconds 20] [--sellers 1000]
 *
 * Only 127.0.0.1 is targeted; the run is bounded by rates x seconds requests.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { loadConfigOrExit } from '../config/config';
import { benchBearer, checkoutBody } from './api-client';
import { currentPspScenario, setPspScenario } from './psp-scenario';
import { ms, summarize } from './stats';

type Sample = { status: number; latencyMs: number; lateMs: number; paymentId?: string };

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rates: { type: 'string', default: '25,50,100' }, seconds: { type: 'string', default: '20' }, sellers: { type: 'string', default: '1000' }, warmup: { type: 'string', default: '3' } } });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.seconds);
  const sellerCount = Number(values.sellers);
  if (rates.some((r) => !Number.isInteger(r) || r < 1 || r > 2_000) || !(seconds >= 1 && seconds <= 600) || !(sellerCount >= 1)) {
    console.error('bench: --rates are whole numbers 1..2000, --seconds 1..600');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const bearer = await benchBearer(config, 'bench', 'payments:write payments:read');
  const url = `${config.API_BASE_URL}/api/v1/payments`;
  const setScenario = (scenario: string) => setPspScenario(config.PSP_BASE_URL, scenario);
  const previous = await currentPspScenario(config.PSP_BASE_URL);
  await setScenario('BEST_PSP_EVER');

  const checkout = async (scheduledAt: number): Promise<Sample> => {
    const sellers = new Set<number>();
    const n = 1 + Math.floor(Math.random() * 3);
    while (sellers.size < n) sellers.add(Math.floor(Math.random() * sellerCount));
    const orders = [...sellers].map((s) => ({ sellerId: `seller-${s}`, quantity: 500 + Math.floor(Math.random() * 10_000) }));
    const sentAt = performance.now();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: bearer.authorization, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body: checkoutBody(orders),
      });
      const body = (await res.json()) as { paymentId?: string };
      return { status: res.status, latencyMs: performance.now() - sentAt, lateMs: sentAt - scheduledAt, paymentId: body.paymentId };
    } catch {
      return { status: 0, latencyMs: performance.now() - sentAt, lateMs: sentAt - scheduledAt };
    }
  };

  const runAt = async (rate: number, durationS: number): Promise<Sample[]> => {
    const total = rate * durationS;
    const interval = 1_000 / rate;
    const start = performance.now();
    const pending: Array<Promise<Sample>> = [];
    for (let i = 0; i < total; i++) {
      const scheduledAt = start + i * interval;
      const wait = scheduledAt - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(checkout(scheduledAt));
    }
    return Promise.all(pending);
  };

  const results: Array<{ rate: number; seconds: number; sent: number; accepted: number; errors: Record<string, number>; achievedPerS: number; latencyMs: ReturnType<typeof summarize>; maxLateMs: number }> = [];
  const paymentIds: string[] = [];
  try {
    await runAt(Math.min(rates[0]!, 20), Number(values.warmup)); // warm connections and JIT
    for (const rate of rates) {
      const t0 = performance.now();
      const samples = await runAt(rate, seconds);
      const elapsedS = (performance.now() - t0) / 1_000;
      const errors: Record<string, number> = {};
      for (const s of samples) if (s.status !== 202) errors[String(s.status)] = (errors[String(s.status)] ?? 0) + 1;
      paymentIds.push(...samples.filter((s) => s.status === 202 && s.paymentId).map((s) => s.paymentId!));
      const row = {
        rate,
        seconds,
        sent: samples.length,
        accepted: samples.filter((s) => s.status === 202).length,
        errors,
        achievedPerS: Math.round((samples.length / elapsedS) * 10) / 10,
        latencyMs: summarize(samples.map((s) => s.latencyMs)),
        maxLateMs: Math.max(...samples.map((s) => s.lateMs)),
      };
      results.push(row);
      console.log(`rate ${rate}/s: sent ${row.sent}, 202 ${row.accepted}, errors ${JSON.stringify(errors)}, p50 ${ms(row.latencyMs.p50)} ms, p95 ${ms(row.latencyMs.p95)} ms, p99 ${ms(row.latencyMs.p99)} ms, max ${ms(row.latencyMs.max)} ms`);
      await new Promise((r) => setTimeout(r, 3_000)); // let the captures of this step drain
    }
  } finally {
    await setScenario(previous);
  }

  // Every accepted payment must reach a final state: a fast 202 that never captures is no result.
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 1 });
  const deadline = Date.now() + 120_000;
  let open = paymentIds.length;
  while (Date.now() < deadline) {
    open = (await pool.query<{ n: number }>(`select count(*)::int as n from payments where id = any($1) and status = 'AUTHORIZED'`, [paymentIds])).rows[0]!.n;
    if (open === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await pool.end();

  console.log('\n| rate (req/s) | sent | 202 | errors | p50 ms | p95 ms | p99 ms | max ms |');
  console.log('|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.rate} | ${r.sent} | ${r.accepted} | ${Object.keys(r.errors).length ? JSON.stringify(r.errors) : 'none'} | ${ms(r.latencyMs.p50)} | ${ms(r.latencyMs.p95)} | ${ms(r.latencyMs.p99)} | ${ms(r.latencyMs.max)} |`);
  console.log(`\n${paymentIds.length - open} of ${paymentIds.length} accepted payments reached a final state${open ? ` (${open} still AUTHORIZED after 120 s)` : ''}`);
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `checkout-latency-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), pspScenario: 'BEST_PSP_EVER', results, finalized: paymentIds.length - open, accepted: paymentIds.length }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (open > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
