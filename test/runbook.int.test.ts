/**
 * The runbooks are tested: every fenced `sh` block of docs/runbook.md and docs/runbook-money-out.md runs, in order, against the
 * test run's stack (its API, worker, PSP, database and task queue; `PAYORCH_ENV_FILE` points at no
 * file, so the blocks use the run's settings) with the placeholders filled from a real payment
 * (captured, partly refunded). A block that exits non-zero fails. The PSP's scenario is put back
 * after each block (the runbook rehearses with DEGRADED).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, testEnv, token, uniqueId, waitFor } from './support';

type Json = Record<string, any>;
export type Block = { line: number; script: string };

/** The fenced shell blocks (sh, bash, shell; indented ones too) of a Markdown text, with their line. */
export function shellBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(sh|bash|shell)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^ {0,${indent}}\`\`\`\\s*$`).test(lines[j]!); j++) body.push(lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)));
    if (j >= lines.length) throw new Error(`unclosed shell block at line ${i + 1}`);
    blocks.push({ line: i + 1, script: body.join('\n') });
    i = j;
  }
  return blocks;
}

/**
 * fetch, once more on a socket the server closed meanwhile (a kept-alive connection idle past the
 * server's keep-alive timeout while a long block ran).
 */
async function fetchAgain(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

const resetScenario = () => fetchAgain(`${testEnv().pspBaseUrl}/v1/scenario`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scenario: testEnv().env.PSP_SCENARIO }) });

/** The runbooks whose blocks run: the main one and money out. */
const RUNBOOKS = ['docs/runbook.md', 'docs/runbook-money-out.md'];
const blocks = RUNBOOKS.flatMap((file) => shellBlocks(readFileSync(path.join(ROOT, file), 'utf8')).map((b) => ({ ...b, file, name: `${file}:${b.line}` })));

describe('the runbooks (docs/runbook.md, docs/runbook-money-out.md)', () => {
  const placeholders: Record<string, string> = {};

  beforeAll(async () => {
    const writer = await token({ scope: 'payments:write payments:read refunds:write' });
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetchAgain(`${testEnv().apiBaseUrl}${p}`, { method, headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json', 'idempotency-key': uniqueId('key') }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return (await res.json()) as Json;
    };
    const sellerId = uniqueId('runbook-seller');
    const payment = await call('POST', '/api/v1/payments', {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity: 2500, currency: 'EUR' },
      paymentOrders: [{ sellerId, amount: { quantity: 2500, currency: 'EUR' } }],
      paymentMethod: { token: 'tok_visa' },
    });
    const paymentId = payment.paymentId as string;
    const paymentOrderId = payment.paymentOrders[0].paymentOrderId as string;
    await waitFor('captured', async () => (await call('GET', `/api/v1/payments/${paymentId}`)).paymentOrders?.[0]?.status === 'CAPTURED', 30_000, 200);
    const refund = await call('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId, amount: { quantity: 500, currency: 'EUR' } });
    const refundId = refund.refundId as string;
    await waitFor('refunded', async () => (await call('GET', `/api/v1/refunds/${refundId}`)).status === 'REFUNDED', 60_000, 200);
    Object.assign(placeholders, { paymentId, paymentOrderId, refundId, sellerId });
  }, 120_000);

  afterAll(async () => {
    await resetScenario();
  });

  it('has shell blocks, and only placeholders the test can fill', () => {
    expect(blocks.filter((b) => b.file === 'docs/runbook.md').length).toBeGreaterThanOrEqual(10);
    expect(blocks.filter((b) => b.file === 'docs/runbook-money-out.md').length).toBeGreaterThanOrEqual(3);
    const used = new Set(blocks.flatMap((b) => [...b.script.matchAll(/<([A-Za-z]+)>/g)].map((m) => m[1]!)));
    expect([...used].filter((p) => !['paymentId', 'paymentOrderId', 'refundId', 'sellerId'].includes(p))).toEqual([]);
  });

  it.each(blocks.map((b) => [b.name, b] as const))('the block at %s runs', async (_name, block) => {
    const script = block.script.replace(/<([A-Za-z]+)>/g, (m, name: string) => placeholders[name] ?? m);
    const result = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: ROOT, env: { ...process.env, ...testEnv().env }, encoding: 'utf8', timeout: 110_000, maxBuffer: 64 * 1024 * 1024 });
    if (block.script.includes('/v1/scenario')) await resetScenario();
    const tail = (text: string) => text.split('\n').slice(-15).join('\n');
    expect({ line: block.name, status: result.status, signal: result.signal, stderr: result.status === 0 ? '' : tail(result.stderr ?? ''), stdout: result.status === 0 ? '' : tail(result.stdout ?? '') }).toEqual({ line: block.name, status: 0, signal: null, stderr: '', stdout: '' });
  });
});
