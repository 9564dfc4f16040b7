/**
 * End-to-end benchmark (issue 8; not a test). In one run, on the running stack:
 *  1. the bare-Temporal ceiling: workflows of the PaymentOrder's shape (start, one no-op
 *     activity, one signal to a per-key workflow) on the same server, with our worker's tuning,
 *     driven closed loop at saturation — completed workflows per second;
 *  2. real checkouts through the API, open loop, at a fixed rate or in steps up to the maximum
 *     the system sustains, sellers uniform, Zipf or one hot seller, PSP scenario of choice;
 *  3. a drain, then the correctness gate: ledger verify, no capture doubled at the PSP, database
 *     and PSP agree on what was captured, every seller's balance (API) = captured − commission.
 * It reports checkout latency, 202 → CAPTURED, capture → balance API (probe sellers), completed
 * PaymentOrders/s, errors by kind, CPU and RSS of every component, and our throughput as a ratio
 * of the ceiling; writes JSON, Markdown and a chart to bench/results/e2e-<time>/.
 *
 *   scripts/stack up all && npm run -s bench:e2e -- --ramp 5,5,60 --step-seconds 15
 *   npm run -s bench:e2e -- --rate 20 --seconds 60 --distribution hot
 *
 * Only 127.0.0.1 is targeted; every phase is bounded in requests and time.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SingleBar } from 'cli-progress';
import { sql } from 'drizzle-orm';
import { loadConfigOrExit, type Config } from '../config/config';
import { createDb, uuidArray } from '../db/client';
import { startWebhookSink } from './webhook-sink';
import { verifyLedger } from '../db/ledger-verification';
import { commissionMinor, refundCommissionShareMinor } from '../ledger/journal';
import { connectTemporalClient } from '../temporal/client';
import type { ceilingKey, ceilingOrder } from './ceiling/workflows';
import { benchBearer, checkoutBody, compareRefundsWithPsp, sellerBalance, settlement, startRefunder, type BenchOrder } from './api-client';
import { ProcSampler, stackPids, type ComponentUsage } from './proc-sampler';
import { actionsPerOrder } from './temporal-actions';
import { currentPspScenario, setPspScenario } from './psp-scenario';
import { writeReport, type E2eResult, type StepResult } from './e2e-report';
import { ms, summarize } from './stats';

const ROOT = path.resolve(__dirname, '..');
const DATA_DIR = process.env.PAYORCH_DATA_DIR ?? path.join(ROOT, '.data');
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

type Distribution = 'uniform' | 'zipf' | 'hot';
type Order = BenchOrder;
type Sample = { step: number; sentAt: number; latencyMs: number; kind: string; paymentId?: string; orders: Order[]; probe?: { sellerId: string; paymentOrderId?: string; visibleAt?: number } };

/**
 * CPU milliseconds per completed order, per component of the stack and in total. The load
 * generator (`bench`, this process) and the ceiling's own worker are shown but not counted.
 */
function cpuMsPerOrder(components: ComponentUsage[], ordersPerS: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (ordersPerS <= 0) return out;
  let total = 0;
  for (const c of components) {
    if (c.component.startsWith('ceiling')) continue;
    const perOrder = (c.cpuMeanPct / 100) * 1_000 / ordersPerS;
    out[c.component] = Math.round(perOrder * 10) / 10;
    if (c.component !== 'bench') total += perOrder;
  }
  out.total = Math.round(total * 10) / 10;
  return out;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string' },
      seconds: { type: 'string', default: '30' },
      ramp: { type: 'string' },
      'step-seconds': { type: 'string', default: '15' },
      sellers: { type: 'string', default: '1000' },
      distribution: { type: 'string', default: 'uniform' },
      'zipf-s': { type: 'string', default: '1.1' },
      orders: { type: 'string', default: '1-3' },
      psp: { type: 'string', default: 'BEST_PSP_EVER' },
      'ceiling-seconds': { type: 'string', default: '20' },
      'ceiling-concurrency': { type: 'string', default: '50' },
      'ceiling-rate': { type: 'string', default: '0' },
      'probe-every-ms': { type: 'string', default: '1000' },
      'settle-s': { type: 'string', default: '300' },
      'refund-share': { type: 'string', default: '0' },
      'step-grace-s': { type: 'string', default: '10' },
      label: { type: 'string', default: '' },
      'fresh-sellers': { type: 'boolean', default: false },
      webhooks: { type: 'boolean', default: false },
    },
  });
  const fail = (message: string): never => {
    console.error(`bench:e2e: ${message}`);
    process.exit(2);
  };
  const num = (name: string, value: string, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number in ${min}..${max}, got "${value}"`);
    return n;
  };
  let steps: number[];
  let stepSeconds: number;
  if (values.ramp !== undefined) {
    const [from, step, max] = values.ramp.split(',').map(Number);
    if (![from, step, max].every((n) => Number.isInteger(n) && n! >= 1 && n! <= 2_000) || from! > max!) fail('--ramp is from,step,max in checkouts/s, whole numbers 1..2000');
    steps = [];
    for (let r = from!; r <= max!; r += step!) steps.push(r);
    stepSeconds = num('step-seconds', values['step-seconds'], 5, 600);
  } else {
    steps = [num('rate', values.rate ?? '20', 1, 2_000)];
    stepSeconds = num('seconds', values.seconds, 5, 1_800);
  }
  const distribution = values.distribution as Distribution;
  if (!['uniform', 'zipf', 'hot'].includes(distribution)) fail('--distribution is uniform, zipf or hot');
  const [minOrders, maxOrders = minOrders] = values.orders.split('-').map(Number);
  if (!Number.isInteger(minOrders) || !Number.isInteger(maxOrders) || minOrders! < 1 || maxOrders! > 10 || minOrders! > maxOrders!) fail('--orders is N or N-M sellers per checkout, 1..10');
  const sellers = num('sellers', values.sellers, 1, 1_000_000);
  if (distribution !== 'hot' && sellers < maxOrders!) fail('--sellers must be at least the largest --orders');
  return {
    steps,
    stepSeconds,
    ramp: values.ramp !== undefined,
    sellers,
    distribution,
    zipfS: num('zipf-s', values['zipf-s'], 0.1, 5),
    ordersPerCheckout: [minOrders!, distribution === 'hot' ? minOrders! : maxOrders!] as const,
    psp: values.psp,
    ceilingSeconds: num('ceiling-seconds', values['ceiling-seconds'], 0, 600),
    ceilingConcurrency: num('ceiling-concurrency', values['ceiling-concurrency'], 1, 1_000),
    // 0: closed loop (the ceiling). R > 0: open loop at R workflows/s, for the bare workflow's CPU
    // cost at a given rate, to set beside our CPU per order at the same rate.
    ceilingRate: num('ceiling-rate', values['ceiling-rate'], 0, 500),
    probeEveryMs: num('probe-every-ms', values['probe-every-ms'], 100, 60_000),
    settleS: num('settle-s', values['settle-s'], 10, 1_800),
    refundShare: num('refund-share', values['refund-share'], 0, 1),
    stepGraceS: num('step-grace-s', values['step-grace-s'], 0, 120),
    label: values.label,
    // Steady state by default: the same sellers every run, whose ledger workflows already exist.
    freshSellers: values['fresh-sellers'] || (distribution !== 'hot' && sellers > 5_000),
    // One webhook endpoint per seller of the run, subscribed to payment_order.captured, pointing at
    // a receiver in this process (127.0.0.1, answers 200): checkouts with webhooks on.
    webhooks: values.webhooks,
  };
}
type Options = ReturnType<typeof parseOptions>;

/**
 * Seller picker: uniform over N, Zipf(s) over N (rank 0 hottest), or the one hot seller. Seller ids
 * are the same every run (their ledger workflows exist after the first), unless --fresh-sellers.
 */
function sellerPicker(options: Options, runId: string): { pick: () => string; all: () => string[] } {
  const prefix = options.freshSellers ? `s-${runId}-` : 'bench-seller-';
  const all = () => (options.distribution === 'hot' ? [`${prefix}hot`] : Array.from({ length: options.sellers }, (_, k) => `${prefix}${k}`));
  if (options.distribution === 'hot') return { pick: () => `${prefix}hot`, all };
  if (options.distribution === 'uniform') return { pick: () => `${prefix}${Math.floor(Math.random() * options.sellers)}`, all };
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= options.sellers; k++) cdf.push((sum += 1 / k ** options.zipfS));
  const pick = () => {
    const u = Math.random() * sum;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return `${prefix}${lo}`;
  };
  return { pick, all };
}


function progressBar(label: string, total: number): SingleBar {
  const bar = new SingleBar({
    format: `${label.padEnd(22)} |{bar}| {value}/{total} | {info}`,
    barsize: 24,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 5_000,
    clearOnComplete: false,
  });
  bar.start(total, 0, { info: '' });
  return bar;
}

/** Phase 1: the bare-Temporal ceiling, closed loop at `concurrency` workflows in flight. */
async function runCeiling(config: Config, options: Options, runId: string, sampler: { extra: Record<string, number>; usage: ProcSampler['usage'] }, phase: 'before' | 'after') {
  const taskQueue = `bench-ceiling-${runId}-${phase}`;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'ceiling/worker.ts')], { cwd: ROOT, env: { ...process.env, CEILING_TASK_QUEUE: taskQueue, WORKER_SDK_METRICS_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ceiling worker not ready in 120 s: ${stderr.slice(-2_000)}`)), 120_000);
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ceiling worker ready') && (clearTimeout(timer), resolve()));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`ceiling worker exited with ${code}: ${stderr.slice(-2_000)}`))));
  });
  sampler.extra['ceiling-worker'] = child.pid!;
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const keyCount = options.distribution === 'hot' ? 1 : Math.min(options.sellers, 100);
  const keys = Array.from({ length: keyCount }, (_, i) => `bench-ceiling-key-${runId}-${phase}-${i}`);
  await Promise.all(keys.map((workflowId) => client.workflow.start<typeof ceilingKey>('ceilingKey', { taskQueue, workflowId, args: [0] })));

  const startedAt = Date.now();
  const endAt = startedAt + options.ceilingSeconds * 1_000;
  const warmupMs = Math.min(5_000, (options.ceilingSeconds * 1_000) / 4);
  const completions: number[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const bar = progressBar(`ceiling ${phase} (bare)`, options.ceilingSeconds);
  const ticker = setInterval(() => bar.update(Math.min(options.ceilingSeconds, Math.round((Date.now() - startedAt) / 1_000)), { info: `${completions.length} completed, ${errors} errors` }), 500);
  const one = async () => {
    const t0 = performance.now();
    try {
      const handle = await client.workflow.start<typeof ceilingOrder>('ceilingOrder', { taskQueue, workflowId: `bench-ceiling-${runId}-${phase}-${n++}`, args: [keys[n % keyCount]!] });
      await handle.result();
      completions.push(Date.now());
      latencies.push(performance.now() - t0);
    } catch {
      errors += 1;
    }
  };
  let openLoopCompleted: number | undefined;
  if (options.ceilingRate > 0) {
    // Open loop: one start every 1/R s, whether or not earlier ones finished. Nobody waits for a
    // result (a long poll per workflow is load our orders do not put on Temporal): the run ends
    // when visibility shows none of them running.
    const starts: Promise<unknown>[] = [];
    for (let k = 0; startedAt + (k * 1_000) / options.ceilingRate < endAt; k++) {
      await sleep(Math.max(0, startedAt + (k * 1_000) / options.ceilingRate - Date.now()));
      starts.push(client.workflow.start<typeof ceilingOrder>('ceilingOrder', { taskQueue, workflowId: `bench-ceiling-${runId}-${phase}-${n++}`, args: [keys[n % keyCount]!] }).catch(() => (errors += 1)));
    }
    await Promise.all(starts);
    const query = `TaskQueue = '${taskQueue}' AND WorkflowType = 'ceilingOrder' AND ExecutionStatus = 'Running'`;
    for (const giveUpAt = Date.now() + 60_000; Date.now() < giveUpAt && (await client.workflow.count(query)).count > 0; ) await sleep(500);
    openLoopCompleted = (await client.workflow.count(`TaskQueue = '${taskQueue}' AND WorkflowType = 'ceilingOrder' AND ExecutionStatus = 'Completed'`)).count;
  } else {
    const lane = async () => {
      while (Date.now() < endAt) await one();
    };
    await Promise.all(Array.from({ length: options.ceilingConcurrency }, lane));
  }
  clearInterval(ticker);
  bar.update(options.ceilingSeconds, { info: `${completions.length} completed, ${errors} errors` });
  bar.stop();
  const windowEnd = openLoopCompleted === undefined ? Math.max(...completions, startedAt + warmupMs + 1) : endAt;
  // CPU per bare workflow after the warm-up: the Temporal server and the ceiling's own worker
  // (what Temporal costs a workflow of this shape at this rate, with no business logic). Open
  // loop, the window is the steady state of the sending (its rate is the workflow rate).
  const usage = sampler.usage(startedAt + warmupMs, windowEnd);
  const perS =
    openLoopCompleted === undefined ? completions.filter((t) => t >= startedAt + warmupMs).length / ((windowEnd - startedAt - warmupMs) / 1_000) : openLoopCompleted / options.ceilingSeconds;
  const cpuOf = (name: string) => usage.components.find((c) => c.component === name)?.cpuMeanPct ?? 0;
  const msPerWorkflow = (pct: number) => (perS > 0 ? Math.round(((pct * 10) / perS) * 10) / 10 : 0);
  const cpuMsPerWorkflow: Record<'temporal' | 'ceiling-worker' | 'total', number> = {
    temporal: msPerWorkflow(cpuOf('temporal')),
    'ceiling-worker': msPerWorkflow(cpuOf('ceiling-worker')),
    total: msPerWorkflow(cpuOf('temporal') + cpuOf('ceiling-worker')),
  };
  await Promise.all(keys.map((id) => client.workflow.getHandle(id).terminate('benchmark over').catch(() => undefined)));
  await client.connection.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  delete sampler.extra['ceiling-worker'];
  return {
    phase,
    startedAt,
    endedAt: Date.now(),
    seconds: options.ceilingSeconds,
    concurrency: options.ceilingConcurrency,
    rate: options.ceilingRate,
    keys: keyCount,
    cpuMsPerWorkflow,
    completed: openLoopCompleted ?? completions.length,
    errors,
    workflowsPerS: Math.round(perS * 10) / 10,
    latencyMs: summarize(latencies),
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const config = loadConfigOrExit();
  const runId = Date.now().toString(36);
  const bearer = await benchBearer(config, 'bench-e2e', 'payments:write payments:read balances:read refunds:write');
  const headers = {
    get authorization() {
      return bearer.authorization;
    },
    'content-type': 'application/json',
  };
  const samplerPids = { extra: { bench: process.pid } as Record<string, number> };
  const sampler = new ProcSampler(stackPids(DATA_DIR, samplerPids.extra));
  sampler.start();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 3, applicationName: 'bench-e2e' });
  const previousScenario = await currentPspScenario(config.PSP_BASE_URL);
  console.log(`bench:e2e run ${runId}: ${options.ramp ? `ramp ${options.steps.join(',')} checkouts/s, ${options.stepSeconds} s a step` : `${options.steps[0]} checkouts/s for ${options.stepSeconds} s`}; sellers ${options.distribution}${options.distribution === 'hot' ? '' : ` over ${options.sellers}`}, ${options.ordersPerCheckout.join('-')} per checkout; PSP ${options.psp}`);

  // Phase 1: the ceiling (measured again after the checkouts: the mean of both is the reference,
  // and their difference shows how much the machine drifted during the run).
  const printCeiling = (c: Awaited<ReturnType<typeof runCeiling>>) =>
    console.log(
      `ceiling ${c.phase}: ${c.workflowsPerS} workflows/s completed ${c.rate > 0 ? `open loop at ${c.rate}/s` : `at ${c.concurrency} in flight`} (p50 ${ms(c.latencyMs.p50)} ms, p99 ${ms(c.latencyMs.p99)} ms per workflow, ${c.errors} errors; CPU ms per workflow: Temporal ${c.cpuMsPerWorkflow.temporal}, its worker ${c.cpuMsPerWorkflow['ceiling-worker']}, total ${c.cpuMsPerWorkflow.total})`,
    );
  const ceilingBefore = options.ceilingSeconds > 0 ? await runCeiling(config, options, runId, { extra: samplerPids.extra, usage: (a, b) => sampler.usage(a, b) }, 'before') : undefined;
  if (ceilingBefore) printCeiling(ceilingBefore);
  await sleep(2_000);

  // Phase 2: checkouts, open loop, step by step. Balances are read first: the gate compares each
  // seller's change with what this run captured (nothing else may post to these sellers meanwhile).
  const balanceOf = (sellerId: string) => sellerBalance(config.API_BASE_URL, headers.authorization, sellerId);
  const sellerIds = sellerPicker(options, runId);
  const probeSellers = Array.from({ length: 10 }, (_, k) => (options.freshSellers ? `probe-${runId}-${k}` : `bench-probe-${k}`));
  const sink = options.webhooks ? await startWebhookSink() : undefined;
  const unregisterWebhooks = sink ? await sink.register(db, [...sellerIds.all(), ...probeSellers], runId) : undefined;
  const balanceBefore = new Map<string, bigint>();
  const known = [...sellerIds.all(), ...probeSellers];
  for (let i = 0; i < known.length; i += 50) await Promise.all(known.slice(i, i + 50).map(async (id) => balanceBefore.set(id, options.freshSellers ? 0n : await balanceOf(id))));
  await setPspScenario(config.PSP_BASE_URL, options.psp);
  const pickSeller = sellerIds.pick;
  // Freshness probes: one checkout at a time per probe seller, so the balance to wait for is known.
  const probeExpected = new Map(probeSellers.map((id) => [id, balanceBefore.get(id)!]));
  const freeProbeSellers = [...probeSellers];
  const samples: Sample[] = [];
  const acceptedIds: string[] = [];
  // A share of the payments get a refund of half their first order once captured (--refund-share).
  const refunder = options.refundShare > 0 ? startRefunder({ apiBaseUrl: config.API_BASE_URL, bearer, share: options.refundShare, accepted: acceptedIds }) : undefined;
  const refundsStartedAt = Date.now();
  const probesPending: Array<Promise<void>> = [];
  const PROBE_QUANTITY = 777n;
  const pollBalance = async (probe: NonNullable<Sample['probe']>) => {
    const expected = probeExpected.get(probe.sellerId)! + PROBE_QUANTITY - commissionMinor(PROBE_QUANTITY, config.PLATFORM_COMMISSION_BPS);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await balanceOf(probe.sellerId)) === expected) {
        probe.visibleAt = Date.now();
        probeExpected.set(probe.sellerId, expected);
        freeProbeSellers.push(probe.sellerId);
        return;
      }
      await sleep(100);
    }
    // Not seen in 30 s: this probe seller's balance is no longer known, so it is not reused.
  };
  const checkout = async (step: number, isProbe: boolean): Promise<void> => {
    const orders: Order[] = [];
    let probe: Sample['probe'];
    const probeSeller = isProbe ? freeProbeSellers.shift() : undefined;
    if (probeSeller) {
      probe = { sellerId: probeSeller };
      orders.push({ sellerId: probe.sellerId, quantity: Number(PROBE_QUANTITY) });
    } else {
      const [lo, hi] = options.ordersPerCheckout;
      const count = lo + Math.floor(Math.random() * (hi - lo + 1));
      const picked = new Set<string>();
      while (picked.size < count) picked.add(pickSeller());
      for (const sellerId of picked) orders.push({ sellerId, quantity: 500 + Math.floor(Math.random() * 10_000) });
    }
    const sentAt = Date.now();
    const t0 = performance.now();
    const sample: Sample = { step, sentAt, latencyMs: 0, kind: 'network', orders, probe };
    samples.push(sample);
    try {
      const res = await fetch(`${config.API_BASE_URL}/api/v1/payments`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': randomUUID() },
        body: checkoutBody(orders),
        signal: AbortSignal.timeout(30_000),
      });
      const body = (await res.json()) as { paymentId?: string; paymentOrders?: Array<{ paymentOrderId: string; sellerId: string }> };
      sample.latencyMs = performance.now() - t0;
      sample.kind = res.status === 202 ? 'accepted' : `http ${res.status}`;
      if (probe && !(res.status === 202 && body.paymentId)) freeProbeSellers.push(probe.sellerId); // nothing was posted
      if (res.status === 202 && body.paymentId) {
        sample.paymentId = body.paymentId;
        acceptedIds.push(body.paymentId);
        if (probe) {
          probe.paymentOrderId = body.paymentOrders?.[0]?.paymentOrderId;
          probesPending.push(pollBalance(probe)); // not part of the checkout: steps are judged without it
        }
      }
    } catch (err) {
      sample.latencyMs = performance.now() - t0;
      sample.kind = err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network';
    }
  };
  const backlog = async () =>
    acceptedIds.length === 0
      ? 0
      : (await db.execute<{ n: number }>(sql`select count(*)::int as n from payment_orders where payment_id = any(${uuidArray(acceptedIds)}) and status not in ('CAPTURED','CAPTURE_FAILED','DECLINED')`)).rows[0]!.n;

  const steps: Array<{ rate: number; startedAt: number; endedAt: number; backlogAtEnd: number; backlogAfterGrace: number; sustained: boolean; why?: string }> = [];
  const loadStartedAt = Date.now();
  const pending: Array<Promise<void>> = [];
  try {
    for (const [index, rate] of options.steps.entries()) {
      const total = Math.round(rate * options.stepSeconds);
      const probeEvery = Math.max(2, Math.round((rate * options.probeEveryMs) / 1_000));
      const bar = progressBar(`checkouts ${rate}/s`, total);
      const startedAt = Date.now();
      const stepPending: Array<Promise<void>> = [];
      let lastBacklog = 0;
      const backlogTimer = setInterval(() => void backlog().then((n) => (lastBacklog = n)).catch(() => undefined), 2_000);
      for (let i = 0; i < total; i++) {
        const wait = startedAt + (i * 1_000) / rate - Date.now();
        if (wait > 0) await sleep(wait);
        stepPending.push(checkout(index, i % probeEvery === probeEvery - 1));
        if (i % Math.max(1, Math.round(rate / 4)) === 0) {
          const done = samples.filter((s) => s.step === index && s.latencyMs > 0);
          const p99 = summarize(done.slice(-500).map((s) => s.latencyMs)).p99;
          bar.update(i + 1, { info: `202 ${done.filter((s) => s.kind === 'accepted').length}, errors ${done.filter((s) => s.kind !== 'accepted').length}, p99 ${ms(p99)} ms, orders in flight ${lastBacklog}` });
        }
      }
      const sentUntil = Date.now();
      // Wait for this step's answers (not its probes) before judging it; bounded by the 30 s timeout.
      await Promise.race([Promise.all(stepPending), sleep(35_000)]);
      pending.push(...stepPending);
      clearInterval(backlogTimer);
      const stepSamples = samples.filter((s) => s.step === index);
      const errors = stepSamples.filter((s) => s.kind !== 'accepted' && s.latencyMs > 0).length;
      const p99 = summarize(stepSamples.map((s) => s.latencyMs)).p99;
      const inFlight = await backlog();
      const ordersPerS = stepSamples.reduce((a, s) => a + s.orders.length, 0) / options.stepSeconds;
      // Sustained: answers fast, no errors to speak of, and the orders in flight back under ~3 s
      // worth within the grace period (a transient stall that recovers is not a failed step, but
      // the next step starts only once it has: steps are judged independently).
      const threshold = Math.max(20, ordersPerS * 3);
      let settled = inFlight;
      const graceEnd = Date.now() + options.stepGraceS * 1_000;
      while (settled > threshold && Date.now() < graceEnd) {
        await sleep(500);
        settled = await backlog();
      }
      // And the typical order of the step completed within a second of its 202: a backlog that
      // grows through the step shows here, while a short stall (a hot ledger continuing as new)
      // moves only the tail.
      const answeredAt = new Map(stepSamples.filter((s) => s.paymentId).map((s) => [s.paymentId!, s.sentAt + s.latencyMs]));
      const stepOrders = answeredAt.size === 0 ? [] : (await db.execute<{ payment_id: string; status: string; done_ms: number }>(sql`select payment_id, status, (extract(epoch from updated_at) * 1000)::float8 as done_ms from payment_orders where payment_id = any(${uuidArray([...answeredAt.keys()])})`)).rows;
      const toCapturedP50 = summarize(stepOrders.map((o) => (o.status === 'CAPTURED' ? o.done_ms - answeredAt.get(o.payment_id)! : Number.POSITIVE_INFINITY))).p50;
      const why =
        errors > stepSamples.length * 0.01
          ? `${errors} errors`
          : p99 > 1_000
            ? `checkout p99 ${ms(p99)} ms`
            : !(toCapturedP50 <= 1_000)
              ? `202 → CAPTURED p50 ${ms(toCapturedP50)} ms`
              : settled > threshold
                ? `${settled} orders still in flight ${options.stepGraceS} s after the step`
                : undefined;
      bar.update(total, { info: `202 ${stepSamples.length - errors}, errors ${errors}, p99 ${ms(p99)} ms, orders in flight ${inFlight}${why ? ` — not sustained: ${why}` : ''}` });
      bar.stop();
      steps.push({ rate, startedAt, endedAt: sentUntil, backlogAtEnd: inFlight, backlogAfterGrace: settled, sustained: !why, ...(why ? { why } : {}) });
      if (why && options.ramp) break;
    }
    await Promise.all(pending);
    await Promise.all(probesPending);
  } finally {
    await setPspScenario(config.PSP_BASE_URL, previousScenario);
  }

  // Phase 3: drain (bounded), then collect what happened.
  const refundIds = refunder ? await refunder.stop(120_000) : [];
  const drainStartedAt = Date.now();
  const drainBar = progressBar('drain', acceptedIds.length);
  let lost = 0;
  for (;;) {
    const rows = await settlement(db, acceptedIds);
    const refundsOpen = (await compareRefundsWithPsp(db, config.PSP_BASE_URL, refundIds)).open;
    drainBar.update(acceptedIds.length - rows.open, { info: `${rows.open} payments open, ${refundsOpen} refunds open, ${rows.missing} orders without both journal entries` });
    lost = rows.open + refundsOpen;
    if (lost === 0 && rows.missing === 0) break;
    if (Date.now() - drainStartedAt > options.settleS * 1_000) break;
    await sleep(1_000);
  }
  drainBar.stop();
  const drainedAt = Date.now();

  const orderRows = (await db.execute<{ id: string; payment_id: string; seller_id: string; amount_minor: string; status: string; done_ms: number }>(
    sql`select id, payment_id, seller_id, amount_minor::text, status, (extract(epoch from updated_at) * 1000)::float8 as done_ms from payment_orders where payment_id = any(${uuidArray(acceptedIds)})`,
  )).rows;
  const captures = ((await (await fetch(`${config.PSP_BASE_URL}/v1/captures/log`)).json()) as { captures: Array<{ reference: string; amountMinor: string; at: string }> }).captures;
  const orderIds = new Set(orderRows.map((o) => o.id));
  const ourCaptures = captures.filter((c) => orderIds.has(c.reference));
  const capturedAt = new Map<string, number>();
  const capturesPerOrder = new Map<string, number>();
  for (const c of ourCaptures) {
    capturesPerOrder.set(c.reference, (capturesPerOrder.get(c.reference) ?? 0) + 1);
    if (!capturedAt.has(c.reference)) capturedAt.set(c.reference, Date.parse(c.at));
  }

  // Correctness gate.
  const verification = await verifyLedger(db, { graceMs: 0, paymentIds: acceptedIds });
  const doubled = [...capturesPerOrder.values()].filter((n) => n > 1).length;
  const dbCaptured = new Set(orderRows.filter((o) => o.status === 'CAPTURED').map((o) => o.id));
  const disagreements = [...orderIds].filter((id) => dbCaptured.has(id) !== capturesPerOrder.has(id)).length;
  const expectedPayable = new Map<string, bigint>();
  for (const o of orderRows) {
    expectedPayable.set(o.seller_id, expectedPayable.get(o.seller_id) ?? balanceBefore.get(o.seller_id) ?? 0n);
    if (!capturesPerOrder.has(o.id)) continue;
    const amount = BigInt(o.amount_minor);
    expectedPayable.set(o.seller_id, expectedPayable.get(o.seller_id)! + amount - commissionMinor(amount, config.PLATFORM_COMMISSION_BPS));
  }
  // Refunds, by the PSP's own refund log: each takes back its amount minus its commission share
  // (one refund per order here, so nothing was refunded before it).
  const pspRefunds = await compareRefundsWithPsp(db, config.PSP_BASE_URL, refundIds);
  if (refundIds.length > 0) {
    const refundLog = ((await (await fetch(`${config.PSP_BASE_URL}/v1/refunds/log`)).json()) as { refunds: Array<{ reference: string; amountMinor: string }> }).refunds;
    const refundedAtPsp = new Map(refundLog.map((r) => [r.reference, BigInt(r.amountMinor)]));
    const refundRows = (await db.execute<{ id: string; payment_order_id: string }>(sql`select id, payment_order_id from refunds where id = any(${uuidArray(refundIds)})`)).rows;
    const orderOf = new Map(orderRows.map((o) => [o.id, o]));
    for (const r of refundRows) {
      const amount = refundedAtPsp.get(r.id);
      const order = orderOf.get(r.payment_order_id);
      if (amount === undefined || !order) continue;
      const share = refundCommissionShareMinor({ amountMinor: amount, capturedMinor: BigInt(order.amount_minor), refundedBeforeMinor: 0n, commissionBps: config.PLATFORM_COMMISSION_BPS });
      expectedPayable.set(order.seller_id, expectedPayable.get(order.seller_id)! - (amount - share));
    }
  }
  const refundsPerS = pspRefunds.refunded / Math.max((drainedAt - refundsStartedAt) / 1_000, 1);
  let balanceMismatches = 0;
  const balanceDeadline = Date.now() + 60_000;
  const sellers = [...expectedPayable.keys()];
  for (let i = 0; i < sellers.length; i += 20) {
    await Promise.all(
      sellers.slice(i, i + 20).map(async (sellerId) => {
        for (;;) {
          if ((await balanceOf(sellerId)) === expectedPayable.get(sellerId)) return;
          if (Date.now() > balanceDeadline) {
            balanceMismatches += 1;
            return;
          }
          await sleep(250);
        }
      }),
    );
  }
  const ceilingAfter = ceilingBefore ? await runCeiling(config, options, runId, { extra: samplerPids.extra, usage: (a, b) => sampler.usage(a, b) }, 'after') : undefined;
  if (ceilingAfter) printCeiling(ceilingAfter);
  const ceiling =
    ceilingBefore && ceilingAfter
      ? { ...ceilingBefore, workflowsPerS: Math.round(((ceilingBefore.workflowsPerS + ceilingAfter.workflowsPerS) / 2) * 10) / 10, runs: [ceilingBefore, ceilingAfter].map((c) => ({ phase: c.phase, workflowsPerS: c.workflowsPerS, completed: c.completed, errors: c.errors, latencyMs: c.latencyMs, cpuMsPerWorkflow: c.cpuMsPerWorkflow })) }
      : undefined;
  sampler.stop();
  let webhooks: E2eResult['webhooks'] = null;
  if (sink) {
    // Deliveries still in flight are given a few seconds before counting.
    const expected = (await db.execute<{ n: string }>(sql`select count(*)::text as n from payment_orders where payment_id = any(${uuidArray(acceptedIds)}) and status = 'CAPTURED'`)).rows[0]!.n;
    const deadline = Date.now() + 30_000;
    while (sink.seen.size < Number(expected) && Date.now() < deadline) await sleep(200);
    const duplicates = [...sink.seen.values()].reduce((a, n) => a + n - 1, 0);
    webhooks = { endpoints: [...sellerIds.all(), ...probeSellers].length, capturedOrders: Number(expected), eventsReceived: sink.seen.size, duplicates, latencyMs: summarize(sink.latencies) };
    await unregisterWebhooks!();
    sink.close();
  }
  await pool.end();

  // Figures, step by step.
  const ordersByPayment = new Map<string, typeof orderRows>();
  for (const o of orderRows) ordersByPayment.set(o.payment_id, [...(ordersByPayment.get(o.payment_id) ?? []), o]);
  const stepResults: StepResult[] = steps.map((step, index) => {
    const stepSamples = samples.filter((s) => s.step === index);
    const errors: Record<string, number> = {};
    for (const s of stepSamples) if (s.kind !== 'accepted') errors[s.kind] = (errors[s.kind] ?? 0) + 1;
    const toCaptured: number[] = [];
    for (const s of stepSamples) {
      if (!s.paymentId) continue;
      const answeredAt = s.sentAt + s.latencyMs;
      for (const o of ordersByPayment.get(s.paymentId) ?? []) if (o.status === 'CAPTURED') toCaptured.push(o.done_ms - answeredAt);
    }
    const freshness = stepSamples.filter((s) => s.probe?.visibleAt && s.probe.paymentOrderId && capturedAt.has(s.probe.paymentOrderId)).map((s) => s.probe!.visibleAt! - capturedAt.get(s.probe!.paymentOrderId!)!);
    const windowS = (step.endedAt - step.startedAt) / 1_000;
    const completedInWindow = orderRows.filter((o) => o.status === 'CAPTURED' && o.done_ms >= step.startedAt && o.done_ms < step.endedAt).length;
    const usage = sampler.usage(step.startedAt, step.endedAt);
    return {
      rate: step.rate,
      seconds: Math.round(windowS * 10) / 10,
      sent: stepSamples.length,
      accepted: stepSamples.filter((s) => s.kind === 'accepted').length,
      ordersOffered: stepSamples.reduce((a, s) => a + s.orders.length, 0),
      errors,
      checkoutMs: summarize(stepSamples.filter((s) => s.latencyMs > 0).map((s) => s.latencyMs)),
      acceptedToCapturedMs: summarize(toCaptured),
      captureToBalanceMs: summarize(freshness),
      completedOrdersPerS: Math.round((completedInWindow / windowS) * 10) / 10,
      ordersInFlightAtEnd: step.backlogAtEnd,
      ordersInFlightAfterGrace: step.backlogAfterGrace,
      sustained: step.sustained,
      ...(step.why ? { notSustainedBecause: step.why } : {}),
      machineCpuMeanPct: usage.machineCpuMeanPct,
      cpuMsPerOrder: cpuMsPerOrder(usage.components, completedInWindow / windowS),
    };
  });
  const sustained = stepResults.filter((s) => s.sustained);
  const best = sustained.reduce<StepResult | undefined>((a, s) => (!a || s.completedOrdersPerS > a.completedOrdersPerS ? s : a), undefined);
  const maxRate = sustained.length ? Math.max(...sustained.map((s) => s.rate)) : undefined;
  const halfStep = maxRate === undefined ? undefined : [...sustained].filter((s) => s.rate <= maxRate / 2).pop() ?? sustained[0];

  // Time series, one point a second from the start of the load.
  const series: E2eResult['series'] = [];
  const lastAt = Math.max(drainedAt, ...orderRows.map((o) => o.done_ms));
  for (let t = loadStartedAt; t < Math.min(lastAt, drainedAt) + 1_000; t += 1_000) {
    const sent = samples.filter((s) => s.sentAt >= t && s.sentAt < t + 1_000);
    const lat = summarize(sent.filter((s) => s.latencyMs > 0).map((s) => s.latencyMs));
    series.push({
      t: Math.round((t - loadStartedAt) / 1_000),
      offered: sent.length,
      accepted: sent.filter((s) => s.kind === 'accepted').length,
      errors: sent.filter((s) => s.kind !== 'accepted').length,
      completedOrders: orderRows.filter((o) => o.status === 'CAPTURED' && o.done_ms >= t && o.done_ms < t + 1_000).length,
      p50: sent.length ? lat.p50 : null,
      p95: sent.length ? lat.p95 : null,
      p99: sent.length ? lat.p99 : null,
    });
  }

  // Temporal actions per order, from the histories of a sample of this run's orders.
  const actionsClient = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const actions = await actionsPerOrder(actionsClient, orderRows.map((o) => ({ paymentOrderId: o.id, sellerId: o.seller_id })), { fromMs: loadStartedAt, toMs: drainedAt }).catch((err: unknown) => {
    console.error(`bench:e2e: could not count Temporal actions: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }).finally(() => actionsClient.connection.close());

  const gate = {
    ledgerVerify: verification.ok ? 'ok' : verification.checks.filter((c) => c.violations > 0).map((c) => `${c.name}: ${c.violations}`).join('; '),
    paymentsNotFinal: lost,
    capturedTwiceAtPsp: doubled,
    dbPspDisagreements: disagreements + pspRefunds.disagreements,
    refundsRefundedTwiceAtPsp: pspRefunds.doubled,
    refunds: { requested: pspRefunds.refunds, refunded: pspRefunds.refunded, perSecond: Math.round(refundsPerS * 10) / 10 },
    sellersChecked: sellers.length,
    balanceMismatches,
    nothingAccepted: acceptedIds.length === 0,
    passed: acceptedIds.length > 0 && verification.ok && lost === 0 && doubled === 0 && disagreements === 0 && pspRefunds.disagreements === 0 && pspRefunds.doubled === 0 && balanceMismatches === 0,
  };
  const result: E2eResult = {
    runId,
    label: options.label,
    at: new Date().toISOString(),
    command: `npm run -s bench:e2e -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) },
    options: { ...options, ordersPerCheckout: options.ordersPerCheckout.join('-') },
    ceiling,
    steps: stepResults,
    maxSustainedRate: maxRate ?? null,
    ourOrdersPerS: best?.completedOrdersPerS ?? null,
    ratioToCeiling: best && ceiling && options.ceilingRate === 0 ? Math.round((best.completedOrdersPerS / ceiling.workflowsPerS) * 100) / 100 : null,
    halfMaxStep: halfStep ? { rate: halfStep.rate, checkoutP99Ms: halfStep.checkoutMs.p99, captureToBalanceP99Ms: halfStep.captureToBalanceMs.p99 } : null,
    usage: { ceiling: ceiling ? sampler.usage(ceiling.startedAt, ceiling.endedAt) : null, load: sampler.usage(loadStartedAt, steps.at(-1)?.endedAt ?? drainedAt) },
    gate,
    actions,
    webhooks,
    series,
  };
  const dir = path.join(__dirname, 'results', `e2e-${new Date().toISOString().replace(/[:.]/g, '-')}${options.label ? `-${options.label}` : ''}`);
  mkdirSync(dir, { recursive: true });
  const markdown = await writeReport(dir, result);
  console.log(`\n${markdown}`);
  console.log(`results: ${path.relative(process.cwd(), dir)}/ (result.json, result.md, chart.png)`);
  if (!gate.passed) {
    console.log('FAILED: the correctness gate did not pass (money lost, doubled or misreported); the speed figures of this run do not count');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(`bench:e2e: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
