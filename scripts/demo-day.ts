/**
 * The money-out demo, one "day" in a minute: checkout of two sellers -> captures -> a partial
 * refund -> settlement (the Temporal workflow the Schedule runs, started now) -> payouts (one of
 * them to a `seller-payout-return*` seller, whose payout comes back). After each step it prints
 * the ledger (postings per account of the demo's sellers and the platform) and the balances
 * (`GET /sellers/{id}/balance`, with `available`), and at the end the money-out checks of
 * ledger:verify. Needs the stack with short lags - `scripts/demo --day` starts it so:
 *
 *   PSP_SETTLEMENT_LAG_S=5 PSP_PAYOUT_RETURN_DELAY_S=5 (the PSP's), then
 *   node --import tsx scripts/demo-day.ts [--lag-s 5]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import type { PayoutRunSummary } from '../workflows/payout.workflow';
import type { SettlementSummary } from '../workflows/settlement.workflow';
import { signDevToken } from './dev-token';

type Json = Record<string, unknown>;
type BalanceView = { balances?: Array<{ accountCode: string; balance: { quantity: number } }>; available?: unknown[] };
type PaymentView = { paymentOrders: Array<{ paymentOrderId: string; status: string }> };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'lag-s': { type: 'string', default: '5' } } });
  const lagMs = Number(values['lag-s']) * 1_000;
  const config = loadConfigOrExit();
  const jwt = await signDevToken({ secret: config.AUTH_DEV_SECRET!, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, subject: 'demo-day', scope: 'payments:write payments:read refunds:write balances:read payouts:read', ttlSeconds: 900 });
  const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 2 });
  const temporal = new TemporalClient({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
  const run = randomUUID().slice(0, 6);
  const sellers = [`seller-day-${run}`, `seller-payout-return-day-${run}`];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${config.API_BASE_URL}${path}`, { method, headers: { ...headers, ...(method === 'POST' ? { 'idempotency-key': randomUUID() } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as Json };
  };
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  };
  /** Waits until every fact is journaled and the balance API shows it, then prints. */
  const show = async (step: string) => {
    await until('the ledger to catch up', async () => ((await pool.query<{ n: number }>(`select count(*)::int as n from ledger_facts where journaled_at is null and quarantined_at is null`)).rows[0]!.n === 0 ? true : undefined));
    await sleep(1_500); // the aggregator applies the published batches
    console.log(`\n=== ${step}`);
    const { rows } = await pool.query<{ account: string; balance: string }>(
      `select p.account_code as account, sum(case when p.account_code in ('AUTH_RECEIVABLE','PSP_RECEIVABLES','PLATFORM_CASH','PSP_FEE_EXPENSE') then (case p.direction when 'DEBIT' then p.amount_minor else -p.amount_minor end)
                                            else (case p.direction when 'CREDIT' then p.amount_minor else -p.amount_minor end) end)::text as balance
         from postings p join journal_entries je on je.id = p.journal_entry_id where je.seller_id = any($1) group by 1 order by 1`,
      [sellers],
    );
    console.log('ledger (these sellers\' streams, each account in its normal direction):');
    for (const r of rows) console.log(`  ${r.account.padEnd(48)} ${r.balance.padStart(8)}`);
    for (const seller of sellers) {
      const b = (await api('GET', `/api/v1/sellers/${encodeURIComponent(seller)}/balance`)).json as BalanceView;
      const payable = b.balances?.find((x) => x.accountCode === `MERCHANT_PAYABLE.${seller}`)?.balance.quantity ?? 0;
      console.log(`  balance ${seller}: payable ${payable}, available ${JSON.stringify(b.available ?? [])}`);
    }
  };

  // 1. Checkout and capture.
  const checkout = await api('POST', '/api/v1/payments', {
    buyerId: 'buyer-day',
    orderId: `order-${run}`,
    totalAmount: { quantity: 15_000, currency: 'EUR' },
    paymentOrders: [
      { sellerId: sellers[0], amount: { quantity: 10_000, currency: 'EUR' } },
      { sellerId: sellers[1], amount: { quantity: 5_000, currency: 'EUR' } },
    ],
    paymentMethod: { token: 'tok_visa' },
  });
  if (checkout.status !== 202) throw new Error(`checkout answered ${checkout.status}: ${JSON.stringify(checkout.json)}`);
  const paymentId = checkout.json.paymentId as string;
  console.log(`checkout -> 202, payment ${paymentId} (commission ${config.PLATFORM_COMMISSION_BPS} bps)`);
  const payment = await until('the captures', async () => {
    const p = (await api('GET', `/api/v1/payments/${paymentId}`)).json as PaymentView;
    return p.paymentOrders.every((o) => o.status === 'CAPTURED') ? p : undefined;
  });
  await show('1. captured: PSP receivable against what we owe the sellers');

  // 2. A partial refund of the first seller's order.
  const refund = await api('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId: payment.paymentOrders[0]!.paymentOrderId, amount: { quantity: 2_000, currency: 'EUR' } });
  await until('the refund', async () => ((await api('GET', `/api/v1/refunds/${refund.json.refundId as string}`)).json.status === 'REFUNDED' ? true : undefined));
  await show('2. refunded 2000 of the first order: nothing is available yet (nothing settled)');

  // 3. Settlement, once the PSP's lag has passed.
  console.log(`\n(waiting ${lagMs / 1000} s for the PSP to settle)`);
  await sleep(lagMs + 1_000);
  const settled = (await temporal.workflow.execute('settlementWorkflow', { taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: `demo-settlement-${run}`, args: [{ lookbackDays: 1, unsettledAfterS: config.RECON_UNSETTLED_AFTER_S }] })) as SettlementSummary;
  console.log(`settlement: ${settled.days.map((d) => `${d.date} ${d.newItems} new item(s), ${d.settled} settled, ${d.mismatches} mismatch(es)`).join('; ')}`);
  await show('3. settled: cash (net of the PSP fee) in, PSP receivable cleared; available = settled payable - refund');

  // 4. Payouts (the second seller's is returned by the rail after its delay).
  for (const seller of sellers) {
    const out = (await temporal.workflow.execute('payoutWorkflow', { taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: `demo-payout-${seller}`, args: [{ sellerId: seller, minMinor: '1', returnWatchS: 20, returnPollS: 2 }] })) as PayoutRunSummary;
    console.log(`payout ${seller}: ${out.payouts.map((p) => `${p.amountMinor} ${p.currency} ${p.outcome}`).join(', ') || 'nothing available'}`);
  }
  await show('4. paid out: payable and cash down by the payout; the returned one is back');

  const { db, pool: verifyPool } = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'demo-day' });
  const report = await verifyLedger(db, { graceMs: 0 });
  console.log(`\nledger:verify: ${report.ok ? 'all invariants hold' : 'VIOLATED'}`);
  for (const c of report.checks.filter((x) => /payout|SETTLEMENT|cash/i.test(x.name))) console.log(`  ${c.violations === 0 ? 'ok  ' : 'FAIL'} ${c.name}`);
  await verifyPool.end();
  await pool.end();
  await temporal.connection.close();
  process.exitCode = report.ok ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`demo-day: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
