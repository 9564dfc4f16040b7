/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument -- a review probe reading loosely typed JSON and rows */
/**
 * Review probe: cancels racing captures under PSP DEGRADED with a worker kill -9 in the middle;
 * compares every order's final status with the PSP's capture and void logs.
 *   node --import tsx bench/review-cancel-race.ts [--n 30] [--token tok_visa] [--kill]
 */
import { execFileSync, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

const ROOT = path.resolve(__dirname, '..');
const env = Object.fromEntries(readFileSync(path.join(ROOT, '.data/stack.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const API = env.API_BASE_URL!;
const PSP = env.PSP_BASE_URL!;
const arg = (name: string, dflt: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1]! : dflt; };
const N = Number(arg('n', '30'));
const TOKEN = arg('token', 'tok_visa');
const KILL = process.argv.includes('--kill');
const SCEN = arg('scenario', 'DEGRADED');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

async function main() {
  const jwt = execSync(`npm run -s token -- --scope "payments:write payments:read refunds:write balances:read"`, { cwd: ROOT }).toString().trim();
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${API}${p}`, { method, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': uid('k') }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  await fetch(`${PSP}/v1/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scenario: SCEN }) });
  const pays: string[] = [];
  const cancels: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const res = await call('POST', '/api/v1/payments', { buyerId: 'b', orderId: uid('o'), totalAmount: { quantity: 3000, currency: 'EUR' }, paymentOrders: [{ sellerId: uid('s'), amount: { quantity: 1000, currency: 'EUR' } }, { sellerId: uid('s'), amount: { quantity: 2000, currency: 'EUR' } }], paymentMethod: { token: TOKEN } });
    if (res.status !== 202) { console.log('checkout', res.status, JSON.stringify(res.json)); continue; }
    pays.push(res.json.paymentId);
    if (i % 2 === 0) {
      const id = res.json.paymentId;
      const delay = Math.floor(Math.random() * 1500);
      cancels.push(sleep(delay).then(() => call('POST', `/api/v1/payments/${id}/cancel`)).then((r) => r.status).catch((e) => `err ${e}`));
    }
    if (KILL && i === Math.floor(N / 2)) {
      const pid = Number(readFileSync(path.join(ROOT, '.data/run/worker.pid'), 'utf8').trim());
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      console.log('killed worker', pid);
      setTimeout(() => { execFileSync(path.join(ROOT, 'scripts/stack'), ['start', 'worker'], { stdio: 'inherit' }); console.log('worker restarted'); }, 2000);
    }
    await sleep(150);
  }
  console.log('cancel statuses', (await Promise.all(cancels)).join(','));
  await sleep(15_000);
  await fetch(`${PSP}/v1/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scenario: 'NORMAL' }) });
  const pg = new Client({ connectionString: env.DATABASE_URL });
  await pg.connect();
  const deadline = Date.now() + 240_000;
  let rows: Array<{ id: string; status: string; cancel: boolean; psp_capture_id: string | null }> = [];
  for (;;) {
    rows = (await pg.query(`select id, status, cancel_requested_at is not null as cancel, psp_capture_id from payment_orders where payment_id = any($1::uuid[])`, [pays])).rows;
    const open = rows.filter((r) => !['CAPTURED', 'CAPTURE_FAILED', 'VOIDED', 'DECLINED'].includes(r.status));
    if (open.length === 0 || Date.now() > deadline) { console.log('open', open.length); break; }
    await sleep(2000);
  }
  const captures = ((await (await fetch(`${PSP}/v1/captures/log`)).json()) as { captures: Array<{ reference: string; captureId: string }> }).captures;
  const voids = ((await (await fetch(`${PSP}/v1/voids/log`)).json()) as { voids: Array<{ reference: string }> }).voids;
  const capBy = new Map<string, string[]>();
  for (const c of captures) capBy.set(c.reference, [...(capBy.get(c.reference) ?? []), c.captureId]);
  const voidBy = new Set(voids.map((v) => v.reference));
  const tally: Record<string, number> = {};
  const problems: string[] = [];
  for (const r of rows) {
    tally[`${r.status}${r.cancel ? '+cancel' : ''}`] = (tally[`${r.status}${r.cancel ? '+cancel' : ''}`] ?? 0) + 1;
    const caps = capBy.get(r.id) ?? [];
    if (caps.length > 1) problems.push(`${r.id} captured ${caps.length}x`);
    if (r.status === 'CAPTURED' && caps.length !== 1) problems.push(`${r.id} CAPTURED but PSP has ${caps.length}`);
    if (r.status === 'CAPTURED' && caps[0] !== r.psp_capture_id) problems.push(`${r.id} capture id ${r.psp_capture_id} vs PSP ${caps[0]}`);
    if (r.status !== 'CAPTURED' && caps.length > 0) problems.push(`${r.id} ${r.status} but PSP captured`);
    if (r.status === 'VOIDED' && !voidBy.has(r.id)) problems.push(`${r.id} VOIDED without a PSP void`);
    if (!['CAPTURED', 'CAPTURE_FAILED', 'VOIDED', 'DECLINED'].includes(r.status)) problems.push(`${r.id} still ${r.status}`);
  }
  // ledger: each final order has AUTH_HOLD and CAPTURE xor AUTH_RELEASE entries
  const led = (await pg.query(`select po.id, po.status, array_agg(je.entry_type order by je.entry_type) as types from payment_orders po left join journal_entries je on je.payment_order_id = po.id where po.payment_id = any($1::uuid[]) group by po.id, po.status`, [pays])).rows;
  for (const l of led) {
    const want = l.status === 'CAPTURED' ? 'AUTH_HOLD,CAPTURE' : ['CAPTURE_FAILED', 'VOIDED'].includes(l.status) ? 'AUTH_HOLD,AUTH_RELEASE' : '';
    if (want && (l.types as string[]).join(',') !== want) problems.push(`${l.id} ${l.status} entries ${(l.types as string[]).join(',')}`);
  }
  console.log('tally', JSON.stringify(tally));
  console.log('problems', problems.length, problems.slice(0, 20));
  await pg.end();
}
void main();
