/**
 * The simulator's settlement report and payout rail over HTTP, on a loopback port, with a clock the
 * test moves.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { settlementFeeMinor } from './money-out';
import { createSimulator, type Simulator } from './simulator';

const T0 = Date.parse('2026-03-10T10:00:00Z');

async function listen(simulator: Simulator): Promise<{ server: Server; baseUrl: string }> {
  const server = await new Promise<Server>((resolve) => {
    const s = simulator.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('settlement fee model', () => {
  test('1.4 % + 25, rounded down, never more than the gross', () => {
    expect(settlementFeeMinor(10_000n, 140, 25n)).toBe(165n);
    expect(settlementFeeMinor(999n, 140, 25n)).toBe(38n); // 13.986 -> 13, + 25
    expect(settlementFeeMinor(10n, 140, 25n)).toBe(10n);
  });
});

describe('PSP simulator: settlement report and payout rail', () => {
  let now = T0;
  let simulator: Simulator;
  let server: Server;
  let baseUrl: string;
  const stateFile = path.join(mkdtempSync(path.join(tmpdir(), 'psp-money-out-')), 'state.jsonl');

  beforeAll(async () => {
    simulator = createSimulator({ scenario: 'BEST_PSP_EVER', stateFile, moneyOut: { settlementLagS: 60, payoutReturnDelayS: 30, now: () => now } });
    ({ server, baseUrl } = await listen(simulator));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const post = (p: string, key: string, body: unknown) => fetch(`${baseUrl}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
  const get = async (p: string) => {
    const res = await fetch(`${baseUrl}${p}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('captures and refunds settle after the lag, on the day the lag ends, with fee and net', async () => {
    const auth = (await (await post('/v1/authorizations', 'a1', { amountMinor: '20000', currency: 'EUR', token: 'tok_visa' })).json()) as { authorizationId: string };
    const c1 = (await (await post('/v1/captures', 'c1', { authorizationId: auth.authorizationId, amountMinor: '10000', currency: 'EUR', reference: 'order-1' })).json()) as { captureId: string };
    await post('/v1/captures', 'c2', { authorizationId: auth.authorizationId, amountMinor: '999', currency: 'EUR', reference: 'order-2' });
    await post('/v1/refunds', 'r1', { captureId: c1.captureId, amountMinor: '3000', currency: 'EUR', reference: 'refund-1' });
    // The captures' `at` is real time; move the report clock past real time + lag.
    now = Date.now() + 61_000;
    const day = new Date(now).toISOString().slice(0, 10);
    const report = (await get(`/v1/settlements/${day}`)).body as { items: Array<Record<string, string>>; totals: Array<Record<string, unknown>> };
    expect(report.items).toHaveLength(3);
    const byRef = Object.fromEntries(report.items.map((i) => [i.reference, i]));
    expect(byRef['order-1']).toMatchObject({ kind: 'CAPTURE', itemId: `stl_${c1.captureId}`, grossMinor: '10000', feeMinor: '165', netMinor: '9835', direction: 'CREDIT' });
    expect(byRef['order-2']).toMatchObject({ grossMinor: '999', feeMinor: '38', netMinor: '961' });
    expect(byRef['refund-1']).toMatchObject({ kind: 'REFUND', captureId: c1.captureId, grossMinor: '3000', feeMinor: '0', netMinor: '3000', direction: 'DEBIT' });
    expect(report.totals).toEqual([{ currency: 'EUR', grossMinor: String(10_000 + 999 - 3000), feeMinor: '203', netMinor: String(9835 + 961 - 3000), count: 3 }]);
    // The same day asked again is the same report; another day has none of it.
    expect((await get(`/v1/settlements/${day}`)).body).toEqual(report);
    expect(((await get('/v1/settlements/2020-01-01')).body as { items: unknown[] }).items).toEqual([]);
    expect((await get('/v1/settlements/yesterday')).status).toBe(400);
  });

  test('before the lag has passed nothing is settled', async () => {
    now = Date.now();
    const day = new Date(now).toISOString().slice(0, 10);
    expect(((await get(`/v1/settlements/${day}`)).body as { items: unknown[] }).items).toEqual([]);
  });

  test('the fault knob drops an item and alters another', async () => {
    now = Date.now() + 61_000;
    const day = new Date(now).toISOString().slice(0, 10);
    const res = await fetch(`${baseUrl}/v1/settlements/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ drop: ['order-2'], alter: { 'order-1': '10001' } }) });
    expect(res.status).toBe(200);
    const report = (await get(`/v1/settlements/${day}`)).body as { items: Array<Record<string, string>> };
    expect(report.items.map((i) => i.reference).sort()).toEqual(['order-1', 'refund-1']);
    expect(report.items.find((i) => i.reference === 'order-1')).toMatchObject({ grossMinor: '10001' });
    simulator.setSettlementFaults({ drop: [], alter: {} });
  });

  test('payout rail: idempotent, fail and return sellers, status and log', async () => {
    now = T0;
    const body = { sellerId: 'seller-a', amountMinor: '5000', currency: 'EUR', reference: 'payout-1' };
    const first = await post('/v1/payouts', 'p1', body);
    const firstBody = (await first.json()) as Record<string, unknown>;
    expect(first.status).toBe(200);
    expect(firstBody).toMatchObject({ status: 'PAID', payoutId: expect.stringMatching(/^po_/) });
    const again = await post('/v1/payouts', 'p1', body);
    expect(await again.json()).toEqual(firstBody);
    expect((await post('/v1/payouts', 'p1', { ...body, amountMinor: '5001' })).status).toBe(422);
    expect((await post('/v1/payouts', 'p-bad', { ...body, amountMinor: '-5' })).status).toBe(400);

    const failed = await post('/v1/payouts', 'p2', { ...body, sellerId: 'seller-payout-fail-1' });
    expect(failed.status).toBe(422);
    expect(await failed.json()).toMatchObject({ status: 'FAILED' });

    const returned = (await (await post('/v1/payouts', 'p3', { ...body, sellerId: 'seller-payout-return-1' })).json()) as { payoutId: string; status: string };
    expect(returned.status).toBe('PAID');
    expect((await get(`/v1/payouts/${returned.payoutId}`)).body).toMatchObject({ status: 'PAID' });
    now = T0 + 31_000;
    expect((await get(`/v1/payouts/${returned.payoutId}`)).body).toMatchObject({ status: 'RETURNED' });
    expect((await get('/v1/payouts/lookup?idempotencyKey=p3')).body).toMatchObject({ status: 'RETURNED', payoutId: returned.payoutId });
    expect((await get('/v1/payouts/lookup?idempotencyKey=nope')).status).toBe(404);
    const log = (await get('/v1/payouts/log')).body as { payouts: Array<{ idempotencyKey: string }> };
    expect(log.payouts.map((p) => p.idempotencyKey)).toEqual(['p1', 'p2', 'p3']);
  });

  test('a restarted simulator remembers its payouts', async () => {
    const restarted = createSimulator({ scenario: 'BEST_PSP_EVER', stateFile, moneyOut: { now: () => now } });
    expect(restarted.payoutLog().map((p) => p.idempotencyKey)).toEqual(['p1', 'p2', 'p3']);
    expect(restarted.refundLog()).toHaveLength(1);
  });
});
