/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument -- a review probe reading loosely typed JSON and rows */
/**
 * Review probe: a cancel sent the moment the checkout's 202 arrives (before the API's un-awaited
 * fast-path start may have reached Temporal). Prints, per order captured despite the cancel,
 * how long after the cancel was recorded the PSP captured it.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

const ROOT = path.resolve(__dirname, '..');
const env = Object.fromEntries(readFileSync(path.join(ROOT, '.data/stack.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const API = env.API_BASE_URL!;
const PSP = env.PSP_BASE_URL!;
const N = Number(process.argv[2] ?? '20');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

async function main() {
  const jwt = execSync(`npm run -s token -- --scope "payments:write payments:read refunds:write balances:read"`, { cwd: ROOT }).toString().trim();
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${API}${p}`, { method, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': uid('k') }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const pays: string[] = [];
  const cancels: Array<Promise<unknown>> = [];
  for (let i = 0; i < N; i++) {
    const res = await call('POST', '/api/v1/payments', { buyerId: 'b', orderId: uid('o'), totalAmount: { quantity: 1000, currency: 'EUR' }, paymentOrders: [{ sellerId: uid('s'), amount: { quantity: 1000, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } });
    pays.push(res.json.paymentId);
    cancels.push(call('POST', `/api/v1/payments/${res.json.paymentId}/cancel`).then((r) => JSON.stringify(r.json.cancellation)));
    await sleep(300);
  }
  const answers = await Promise.all(cancels);
  await sleep(3000);
  const pg = new Client({ connectionString: env.DATABASE_URL });
  await pg.connect();
  const rows = (await pg.query(`select id, status, cancel_requested_at from payment_orders where payment_id = any($1::uuid[])`, [pays])).rows;
  const captures = ((await (await fetch(`${PSP}/v1/captures/log`)).json()) as { captures: Array<{ reference: string; at: string }> }).captures;
  const at = new Map(captures.map((c) => [c.reference, c.at]));
  const tally: Record<string, number> = {};
  for (const r of rows) {
    tally[r.status] = (tally[r.status] ?? 0) + 1;
    if (r.status === 'CAPTURED') console.log(`${r.id} CAPTURED ${Date.parse(at.get(r.id)!) - (r.cancel_requested_at as Date).getTime()} ms after its cancel was recorded`);
  }
  console.log('tally', JSON.stringify(tally));
  console.log('answers', answers.slice(0, 5).join(' | '));
  await pg.end();
}
void main();
