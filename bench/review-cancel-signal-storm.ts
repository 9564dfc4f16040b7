/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-explicit-any -- a review probe reading loosely typed JSON and rows */
/**
 * Review probe: a cancelled order whose void cannot be confirmed (the PSP is stopped) - how many
 * signals the relay sends it while it waits. Prints the workflow's history length over time.
 *   node --import tsx bench/review-cancel-signal-storm.ts   (stops and restarts the stack's psp)
 */
import { execFileSync, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const env = Object.fromEntries(readFileSync(path.join(ROOT, '.data/stack.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const stack = (...args: string[]) => execFileSync(path.join(ROOT, 'scripts/stack'), args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const historyLength = (workflowId: string) => {
  const out = execFileSync(env.TEMPORAL_CLI_PATH!, ['workflow', 'describe', '--address', env.TEMPORAL_ADDRESS!, '-w', workflowId, '-o', 'json']).toString();
  const info = JSON.parse(out);
  return Number(info.workflowExecutionInfo?.historyLength ?? -1);
};

async function main() {
  const jwt = execSync(`npm run -s token -- --scope "payments:write payments:read"`, { cwd: ROOT }).toString().trim();
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${env.API_BASE_URL}${p}`, { method, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': uid('k') }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const res = await call('POST', '/api/v1/payments', { buyerId: 'b', orderId: uid('o'), totalAmount: { quantity: 1000, currency: 'EUR' }, paymentOrders: [{ sellerId: uid('s'), amount: { quantity: 1000, currency: 'EUR' } }], paymentMethod: { token: 'tok_capture_retry_100000' } });
  const orderId = res.json.paymentOrders[0].paymentOrderId as string;
  await sleep(3000);
  stack('stop', 'psp');
  const cancel = await call('POST', `/api/v1/payments/${res.json.paymentId}/cancel`);
  console.log('cancel', cancel.status, JSON.stringify(cancel.json.cancellation));
  const wf = `payment-order:${orderId}`;
  for (let t = 0; t <= 60; t += 15) {
    console.log(`t=${t}s history length ${historyLength(wf)}`);
    if (t < 60) await sleep(15_000);
  }
  stack('start', 'psp');
  console.log('psp restarted');
}
void main();
