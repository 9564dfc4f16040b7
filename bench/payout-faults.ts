/**
 * Fault run of payouts (not a test): sellers with settled money, their payout runs started at once,
 * the worker SIGKILLed while they run and started again; then every run must finish and
 *  - the rail's own log holds exactly one payout per seller and per payout id (0 double payouts),
 *  - every seller has exactly one PAID payout of its whole available amount (0 lost),
 *  - ledger:verify passes (PAYOUT entries, platform cash).
 *
 *   scripts/demo --day   (or: PSP_SETTLEMENT_LAG_S=5 scripts/stack up all, PSP restarted)
 *   node --import tsx bench/payout-faults.ts [--sellers 20] [--kill-after-ms 20000] [--lag-s 5]
 *
 * The worker is killed as soon as a third of the runs has paid (or after --kill-after-ms).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { signDevToken } from '../scripts/dev-token';
import { connectTemporalClient } from '../temporal/client';

const ROOT = path.resolve(__dirname, '..');
const DATA_DIR = process.env.PAYORCH_DATA_DIR ?? path.join(ROOT, '.data');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stack = (command: string, component: string, env: Record<string, string> = {}) => execFileSync(path.join(ROOT, 'scripts/stack'), [command, component], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000, env: { ...process.env, ...env } }).toString();

export type PayoutKillResult = { sellers: number; railPayouts: number; ourPayouts: number; doublePayouts: number; lost: number; lostSellers: string[]; ledgerVerify: 'ok' | string[]; killedWithPaid: number; killedWithReserved: number };

/**
 * The scenario, also a row of the fault runner (bench/fault-runner.ts, `payout-worker-kill`).
 * `restartPsp`: restart the stack's PSP with a settlement lag of `lagS` first and with its usual
 * settings after (its state file keeps every log across the restart).
 */
export async function payoutKillRun(options: { config: ReturnType<typeof loadConfigOrExit>; sellers: number; killAfterMs: number; lagS: number; restartPsp?: boolean }): Promise<PayoutKillResult> {
  const { config } = options;
  const n = Math.min(200, options.sellers);
  const values = { 'kill-after-ms': String(options.killAfterMs), 'lag-s': String(options.lagS) };
  if (options.restartPsp) {
    stack('stop', 'psp');
    stack('start', 'psp', { PSP_SETTLEMENT_LAG_S: String(options.lagS) });
  }
  try {
    return await scenario(config, n, values);
  } finally {
    if (options.restartPsp) {
      stack('stop', 'psp');
      stack('start', 'psp');
    }
  }
}

async function scenario(config: ReturnType<typeof loadConfigOrExit>, n: number, values: { 'kill-after-ms': string; 'lag-s': string }): Promise<PayoutKillResult> {
  const jwt = await signDevToken({ secret: config.AUTH_DEV_SECRET!, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, subject: 'payout-faults', scope: 'payments:write payments:read', ttlSeconds: 900 });
  const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'payout-faults' });
  const temporal = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const run = randomUUID().slice(0, 6);
  const sellers = Array.from({ length: n }, (_, i) => `payout-fault-${run}-${i}`);

  // Money for every seller: one captured order each, settled.
  const paymentIds: string[] = [];
  for (const seller of sellers) {
    const res = await fetch(`${config.API_BASE_URL}/api/v1/payments`, { method: 'POST', headers: { ...headers, 'idempotency-key': randomUUID() }, body: JSON.stringify({ buyerId: 'b', orderId: randomUUID(), totalAmount: { quantity: 1_000, currency: 'EUR' }, paymentOrders: [{ sellerId: seller, amount: { quantity: 1_000, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } }) });
    if (res.status !== 202) throw new Error(`checkout answered ${res.status}`);
    paymentIds.push(((await res.json()) as { paymentId: string }).paymentId);
  }
  const deadline = Date.now() + 120_000;
  while ((await pool.query<{ n: number }>(`select count(*)::int as n from payment_orders where payment_id = any($1) and status = 'CAPTURED'`, [paymentIds])).rows[0]!.n < n) {
    if (Date.now() > deadline) throw new Error('captures did not finish in 120 s');
    await sleep(250);
  }
  await sleep(Number(values['lag-s']) * 1_000 + 1_000);
  await temporal.workflow.execute('settlementWorkflow', { taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: `payout-faults-settlement-${run}`, args: [{ lookbackDays: 1, unsettledAfterS: config.RECON_UNSETTLED_AFTER_S }] });
  const expected = new Map((await pool.query<{ seller_id: string; v: string }>(`select seller_id, sum(amount_minor - amount_minor * commission_bps / 10000)::text as v from payment_orders where seller_id = any($1) and settled_at is not null group by 1`, [sellers])).rows.map((r) => [r.seller_id, r.v]));
  if (expected.size !== n) throw new Error(`only ${expected.size} of ${n} sellers settled; is the PSP running with PSP_SETTLEMENT_LAG_S=${values['lag-s']}?`);

  // The payout runs, and the worker killed under them.
  const handles = await Promise.all(sellers.map((seller) => temporal.workflow.start('payoutWorkflow', { taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: `payout-faults-${seller}`, args: [{ sellerId: seller, minMinor: '1', returnWatchS: 0, returnPollS: 1 }] })));
  // Kill once a share of the runs has paid (the rest are reserving, calling the rail or recording), or after the bound.
  const killDeadline = Date.now() + Number(values['kill-after-ms']);
  while (Date.now() < killDeadline && (await pool.query<{ n: number }>(`select count(*)::int as n from payouts where seller_id = any($1) and status = 'PAID'`, [sellers])).rows[0]!.n < Math.ceil(n / 3)) await sleep(20);
  const workerPid = Number(readFileSync(path.join(DATA_DIR, 'run', 'worker.pid'), 'utf8').trim());
  const killedAt = Date.now();
  process.kill(workerPid, 'SIGKILL');
  const paidWhenKilled = (await pool.query<{ n: number }>(`select count(*)::int as n from payouts where seller_id = any($1) and status = 'PAID'`, [sellers])).rows[0]!.n;
  const reservedWhenKilled = (await pool.query<{ n: number }>(`select count(*)::int as n from payouts where seller_id = any($1)`, [sellers])).rows[0]!.n;
  console.log(`worker ${workerPid} SIGKILLed during ${n} payout runs (${reservedWhenKilled} reserved, ${paidWhenKilled} of them paid by then)`);
  await sleep(2_000);
  stack('start', 'worker');
  console.log(`worker started again (${Date.now() - killedAt} ms after the kill)`);
  await Promise.all(handles.map((h) => h.result()));

  const rail = ((await (await fetch(`${config.PSP_BASE_URL}/v1/payouts/log`)).json()) as { payouts: Array<{ sellerId: string; reference: string; amountMinor: string; status: string }> }).payouts.filter((p) => sellers.includes(p.sellerId));
  const ours = (await pool.query<{ id: string; seller_id: string; status: string; amount_minor: string }>(`select id, seller_id, status, amount_minor::text from payouts where seller_id = any($1)`, [sellers])).rows;
  const bySellerRail = new Map<string, number>();
  for (const p of rail) bySellerRail.set(p.sellerId, (bySellerRail.get(p.sellerId) ?? 0) + 1);
  const doubles = [...bySellerRail.values()].filter((c) => c > 1).length + (rail.length - new Set(rail.map((p) => p.reference)).size);
  const lost = sellers.filter((s) => {
    const mine = ours.filter((p) => p.seller_id === s);
    const railed = rail.filter((p) => p.sellerId === s);
    return mine.length !== 1 || mine[0]!.status !== 'PAID' || mine[0]!.amount_minor !== expected.get(s) || railed.length !== 1 || railed[0]!.reference !== mine[0]!.id || railed[0]!.amountMinor !== mine[0]!.amount_minor;
  });
  await sleep(2_000); // the PAYOUT facts are journaled by the sellers' ledgers
  const report = await verifyLedger(db, { graceMs: 0 });
  await pool.end();
  await temporal.connection.close();
  return { sellers: n, railPayouts: rail.length, ourPayouts: ours.length, doublePayouts: doubles, lost: lost.length, lostSellers: lost.slice(0, 5), ledgerVerify: report.ok ? 'ok' : report.checks.filter((c) => c.violations > 0).map((c) => c.name), killedWithPaid: paidWhenKilled, killedWithReserved: reservedWhenKilled };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sellers: { type: 'string', default: '20' }, 'kill-after-ms': { type: 'string', default: '20000' }, 'lag-s': { type: 'string', default: '5' } } });
  const result = await payoutKillRun({ config: loadConfigOrExit(), sellers: Number(values.sellers), killAfterMs: Number(values['kill-after-ms']), lagS: Number(values['lag-s']) });
  console.log(JSON.stringify(result, null, 2));
  process.exitCode = result.doublePayouts === 0 && result.lost === 0 && result.ledgerVerify === 'ok' ? 0 : 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`payout-faults: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
