/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any -- a review probe reading loosely typed JSON and rows */
/**
 * Review probe: partial refunds (several per order, some concurrent) under PSP DEGRADED with a
 * worker kill -9; compares refunds, the PSP's refund log and the REFUND entries.
 *   node --import tsx bench/review-refund-faults.ts [--n 10]
 */
import { execFileSync, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

const ROOT = path.resolve(__dirname, '..');
const env = Object.fromEntries(readFileSync(path.join(ROOT, '.data/stack.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const N = Number(process.argv[process.argv.indexOf('--n') + 1] || 10);

async function main() {
  const jwt = execSync(`npm run -s token -- --scope "payments:write payments:read refunds:write"`, { cwd: ROOT }).toString().trim();
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${env.API_BASE_URL}${p}`, { method, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': uid('k') }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const setScenario = (scenario: string) => fetch(`${env.PSP_BASE_URL}/v1/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scenario }) });
  const orders: Array<{ paymentId: string; orderId: string }> = [];
  for (let i = 0; i < N; i++) {
    const res = await call('POST', '/api/v1/payments', { buyerId: 'b', orderId: uid('o'), totalAmount: { quantity: 1001, currency: 'EUR' }, paymentOrders: [{ sellerId: uid('s'), amount: { quantity: 1001, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } });
    orders.push({ paymentId: res.json.paymentId, orderId: res.json.paymentOrders[0].paymentOrderId });
  }
  await sleep(4000);
  await setScenario('DEGRADED');
  const statuses: number[] = [];
  const requests: Array<Promise<void>> = [];
  for (const [i, o] of orders.entries()) {
    // 4 concurrent refunds of 300 on a capture of 1001: at most 3 can be accepted.
    for (let k = 0; k < 4; k++) requests.push(call('POST', `/api/v1/payments/${o.paymentId}/refunds`, { paymentOrderId: o.orderId, amount: { quantity: 300, currency: 'EUR' } }).then((r) => { statuses.push(r.status); }));
    if (i === Math.floor(N / 2)) {
      await sleep(300);
      process.kill(Number(readFileSync(path.join(ROOT, '.data/run/worker.pid'), 'utf8').trim()), 'SIGKILL');
      console.log('worker killed');
    }
  }
  await Promise.all(requests);
  console.log('refund request statuses', JSON.stringify(statuses.reduce<Record<number, number>>((a, s) => ({ ...a, [s]: (a[s] ?? 0) + 1 }), {})));
  execFileSync(path.join(ROOT, 'scripts/stack'), ['start', 'worker'], { stdio: 'ignore' });
  await sleep(20_000);
  await setScenario('NORMAL');
  const pg = new Client({ connectionString: env.DATABASE_URL });
  await pg.connect();
  const ids = orders.map((o) => o.orderId);
  let rows: any[] = [];
  for (let t = 0; t < 90; t++) {
    rows = (await pg.query(`select r.id, r.status, r.amount_minor::int as amount, r.psp_refund_id, po.refunded_minor::int as refunded, po.refund_reserved_minor::int as reserved, po.amount_minor::int as captured, r.payment_order_id from refunds r join payment_orders po on po.id = r.payment_order_id where r.payment_order_id = any($1::uuid[])`, [ids])).rows;
    if (rows.every((r) => r.status !== 'REFUND_REQUESTED')) break;
    await sleep(2000);
  }
  const log = ((await (await fetch(`${env.PSP_BASE_URL}/v1/refunds/log`)).json()) as { refunds: Array<{ reference: string; refundId: string; amountMinor: string }> }).refunds;
  const byRef = new Map<string, string[]>();
  for (const e of log) byRef.set(e.reference, [...(byRef.get(e.reference) ?? []), e.refundId]);
  const problems: string[] = [];
  const tally: Record<string, number> = {};
  for (const r of rows) {
    tally[r.status] = (tally[r.status] ?? 0) + 1;
    const at = byRef.get(r.id) ?? [];
    if (at.length > 1) problems.push(`${r.id} refunded ${at.length}x at the PSP`);
    if (r.status === 'REFUNDED' && (at.length !== 1 || at[0] !== r.psp_refund_id)) problems.push(`${r.id} REFUNDED but PSP ${JSON.stringify(at)}`);
    if (r.status !== 'REFUNDED' && at.length > 0) problems.push(`${r.id} ${r.status} but the PSP refunded`);
  }
  for (const id of ids) {
    const mine = rows.filter((r) => r.payment_order_id === id);
    const refunded = mine.filter((r) => r.status === 'REFUNDED').reduce((s, r) => s + r.amount, 0);
    const open = mine.filter((r) => r.status === 'REFUND_REQUESTED').reduce((s, r) => s + r.amount, 0);
    const o = mine[0];
    if (o && (o.refunded !== refunded || o.reserved !== refunded + open || o.reserved > o.captured)) problems.push(`${id} refunded ${o.refunded}/${refunded} reserved ${o.reserved}`);
    const entries = (await pg.query(`select count(*)::int as n from journal_entries where payment_order_id = $1 and entry_type = 'REFUND'`, [id])).rows[0].n;
    if (entries !== mine.filter((r) => r.status === 'REFUNDED').length) problems.push(`${id} REFUND entries ${entries} vs ${mine.filter((r) => r.status === 'REFUNDED').length} refunded (journaling may lag)`);
  }
  console.log('tally', JSON.stringify(tally));
  console.log('problems', problems.length, problems.slice(0, 20));
  await pg.end();
}
void main();
