/**
 * Ledger and balance-freshness benchmark (not a test). Drives real checkouts through the running
 * stack at a fixed rate, with every order going to one hot seller (`--mode hot`) or spread over
 * N sellers (`--mode uniform`), the PSP in BEST_PSP_EVER. Measures:
 *  - journal entries committed per second and ledger batch sizes;
 *  - latency from the PSP capture to the CAPTURE entry's commit (p50/p99);
 *  - balance freshness: from the PSP capture to the balance API showing it (p50/p99), on probe
 *    orders for fresh sellers added to every Nth checkout;
 *  - the hot seller's ledger workflow history length (it must stay bounded);
 * and checks correctness: ledger verify passes and every measured balance equals the captured
 * amounts minus commission.
 *
 *   scripts/stack up all && npm run -s bench:ledger -- --mode hot --rate 40 --seconds 20
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { loadConfigOrExit } from '../config/config';
import { createDb, uuidArray } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { commissionMinor } from '../ledger/journal';
import { connectTemporalClient } from '../temporal/client';
import { sellerLedgerWorkflowId } from '../workflows/contracts';
import { benchBearer, checkoutBody, sellerBalance, settlement } from './api-client';
import { currentPspScenario, setPspScenario } from './psp-scenario';
import { ms, summarize } from './stats';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'uniform' },
      rate: { type: 'string', default: '40' },
      seconds: { type: 'string', default: '20' },
      sellers: { type: 'string', default: '1000' },
      'probe-every': { type: 'string', default: '5' },
    },
  });
  const mode = values.mode;
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const sellerCount = Number(values.sellers);
  const probeEvery = Number(values['probe-every']);
  if (!['hot', 'uniform'].includes(mode) || !(rate >= 1 && rate <= 1_000) || !(seconds >= 1 && seconds <= 600) || !(sellerCount >= 1) || !(probeEvery >= 1)) {
    console.error('bench: --mode hot|uniform, --rate 1..1000, --seconds 1..600');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const runId = Date.now().toString(36);
  const bearer = await benchBearer(config, 'bench', 'payments:write payments:read balances:read');
  const headers = {
    get authorization() {
      return bearer.authorization;
    },
    'content-type': 'application/json',
  };
  const setScenario = (scenario: string) => setPspScenario(config.PSP_BASE_URL, scenario);
  const previous = await currentPspScenario(config.PSP_BASE_URL);
  await setScenario('BEST_PSP_EVER');

  const hotSeller = `hot-${runId}`;
  const expectedPayable = new Map<string, bigint>();
  const probes: Array<{ sellerId: string; paymentOrderId?: string; visibleAt?: number }> = [];
  const paymentIds: string[] = [];
  const latencies: number[] = [];
  let errors = 0;

  const probe = async (p: (typeof probes)[number]) => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await sellerBalance(config.API_BASE_URL, headers.authorization, p.sellerId)) > 0n) {
        p.visibleAt = Date.now();
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const checkout = async (i: number) => {
    const orders: Array<{ sellerId: string; quantity: number }> = [];
    if (mode === 'hot') orders.push({ sellerId: hotSeller, quantity: 1_000 + (i % 997) });
    else {
      const picked = new Set<number>();
      const n = 1 + (i % 3);
      while (picked.size < n) picked.add(Math.floor(Math.random() * sellerCount));
      for (const s of picked) orders.push({ sellerId: `s-${runId}-${s}`, quantity: 500 + ((i * 31 + s) % 5_000) });
    }
    const isProbe = i % probeEvery === 0;
    const probeSeller = `probe-${runId}-${i}`;
    if (isProbe) orders.push({ sellerId: probeSeller, quantity: 777 });
    const t0 = performance.now();
    const res = await fetch(`${config.API_BASE_URL}/api/v1/payments`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: checkoutBody(orders),
    });
    latencies.push(performance.now() - t0);
    if (res.status !== 202) {
      errors += 1;
      return;
    }
    const body = (await res.json()) as { paymentId: string; paymentOrders: Array<{ paymentOrderId: string; sellerId: string }> };
    paymentIds.push(body.paymentId);
    for (const o of orders) {
      const payable = BigInt(o.quantity) - commissionMinor(BigInt(o.quantity), config.PLATFORM_COMMISSION_BPS);
      expectedPayable.set(o.sellerId, (expectedPayable.get(o.sellerId) ?? 0n) + payable);
    }
    if (isProbe) {
      const p = { sellerId: probeSeller, paymentOrderId: body.paymentOrders.find((o) => o.sellerId === probeSeller)?.paymentOrderId };
      probes.push(p);
      await probe(p);
    }
  };

  console.log(`bench ledger-flow: mode ${mode}, ${rate} checkouts/s for ${seconds} s${mode === 'uniform' ? ` over ${sellerCount} sellers` : ` to ${hotSeller}`}, probe every ${probeEvery}`);
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  let sendS = 0;
  const startedAt = new Date();
  try {
    for (let i = 0; i < rate * seconds; i++) {
      const wait = start + (i * 1_000) / rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(checkout(i));
    }
    sendS = (performance.now() - start) / 1_000;
    await Promise.all(pending);
  } finally {
    await setScenario(previous);
  }

  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'bench' });
  const deadline = Date.now() + 180_000;
  for (;;) {
    const { open, missing } = await settlement(db, paymentIds);
    if (open === 0 && missing === 0) break;
    if (Date.now() > deadline) throw new Error(`not settled after 180 s: ${open} payments open, ${missing} orders without both journal entries`);
    await new Promise((r) => setTimeout(r, 500));
  }

  const captures = ((await (await fetch(`${config.PSP_BASE_URL}/v1/captures/log`)).json()) as { captures: Array<{ reference: string; at: string }> }).captures;
  const capturedAt = new Map(captures.map((c) => [c.reference, Date.parse(c.at)]));
  const entries = (await db.execute<{ id: string; entry_type: string; payment_order_id: string; batch_id: string; created_at: string }>(
    sql`select id, entry_type, payment_order_id, batch_id, created_at from journal_entries where payment_id = any(${uuidArray(paymentIds)})`,
  )).rows;
  const times = entries.map((e) => Date.parse(e.created_at));
  const commitSpanS = (Math.max(...times) - Math.min(...times)) / 1_000;
  const batches = new Map<string, number>();
  for (const e of entries) batches.set(e.batch_id, (batches.get(e.batch_id) ?? 0) + 1);
  const captureToCommit = entries.filter((e) => e.entry_type === 'CAPTURE' && capturedAt.has(e.payment_order_id)).map((e) => Date.parse(e.created_at) - capturedAt.get(e.payment_order_id)!);
  const freshness = probes.filter((p) => p.visibleAt && p.paymentOrderId && capturedAt.has(p.paymentOrderId)).map((p) => p.visibleAt! - capturedAt.get(p.paymentOrderId!)!);

  // Correctness gate: the ledger's invariants, and balances equal to captured amounts minus commission.
  const report = await verifyLedger(db, { graceMs: 0, paymentIds });
  const checkedSellers = mode === 'hot' ? [hotSeller, ...probes.slice(0, 20).map((p) => p.sellerId)] : [...expectedPayable.keys()].slice(0, 50);
  let balanceMismatches = 0;
  const balanceDeadline = Date.now() + 30_000;
  for (const sellerId of checkedSellers) {
    for (;;) {
      if ((await sellerBalance(config.API_BASE_URL, headers.authorization, sellerId)) === expectedPayable.get(sellerId)) break;
      if (Date.now() > balanceDeadline) {
        balanceMismatches += 1;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await pool.end();

  let hotHistory: number | undefined;
  if (mode === 'hot') {
    const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
    const description = await client.workflow.getHandle(sellerLedgerWorkflowId(hotSeller)).describe();
    hotHistory = description.historyLength;
    await client.connection.close();
  }

  const batchSizes = summarize([...batches.values()]);
  const result = {
    at: new Date().toISOString(),
    mode,
    rateTarget: rate,
    seconds,
    checkouts: paymentIds.length,
    errors,
    achievedCheckoutsPerS: Math.round((paymentIds.length / sendS) * 10) / 10,
    journalEntries: entries.length,
    entriesPerS: Math.round((entries.length / Math.max(commitSpanS, 0.001)) * 10) / 10,
    batchSize: { mean: Math.round((entries.length / batches.size) * 10) / 10, p50: batchSizes.p50, max: batchSizes.max, batches: batches.size },
    checkoutLatencyMs: summarize(latencies),
    captureToCommitMs: summarize(captureToCommit),
    freshnessMs: summarize(freshness),
    hotSellerHistoryLength: hotHistory,
    ledgerVerify: report.ok ? 'ok' : report.checks.filter((c) => c.violations > 0).map((c) => c.name),
    balancesChecked: checkedSellers.length,
    balanceMismatches,
    startedAt: startedAt.toISOString(),
  };
  console.log(`checkouts ${result.checkouts} (${result.achievedCheckoutsPerS}/s), errors ${errors}; checkout p50 ${ms(result.checkoutLatencyMs.p50)} ms p99 ${ms(result.checkoutLatencyMs.p99)} ms`);
  console.log(`journal entries ${result.journalEntries}, ${result.entriesPerS}/s committed; batch size mean ${result.batchSize.mean}, p50 ${result.batchSize.p50}, max ${result.batchSize.max} (${batches.size} batches)`);
  console.log(`capture -> commit: p50 ${ms(result.captureToCommitMs.p50)} ms, p99 ${ms(result.captureToCommitMs.p99)} ms (n=${result.captureToCommitMs.count})`);
  console.log(`capture -> balance API (freshness): p50 ${ms(result.freshnessMs.p50)} ms, p99 ${ms(result.freshnessMs.p99)} ms (n=${result.freshnessMs.count} probes)`);
  if (hotHistory !== undefined) console.log(`hot seller ledger workflow: history length ${hotHistory} events in its current run (continue-as-new at ${config.LEDGER_HISTORY_EVENTS_MAX} or when suggested)`);
  console.log(`correctness: ledger verify ${report.ok ? 'ok' : 'FAILED'}, balances ${checkedSellers.length - balanceMismatches}/${checkedSellers.length} equal captured minus commission`);
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `ledger-flow-${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (!report.ok || balanceMismatches > 0 || errors > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
