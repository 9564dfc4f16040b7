/**
 * Found by the adversarial review of issue 16: money a seller is owed that no path ever paid. Each
 * of these failed on 0c1cd5d: an ADJUSTMENT naming an amount mismatch stranded its capture (now
 * refused: accept first); accepting a seller's first settled capture created no payout Schedule
 * (now ensured by the next settlement run); an ADJUSTMENT crediting the payable of a seller without
 * a payout account was shown as available but never reserved (now it creates the account).
 */
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { createDb, type DbHandle } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { acceptSettledItem, importSettlementReport } from '../db/settlement';
import type { SettlementReportDto } from '../psp/money-out.client';
import { payoutScheduleId } from '../temporal/payout-schedules';
import type { PayoutRunSummary } from '../workflows/payout.workflow';
import type { SettlementSummary } from '../workflows/settlement.workflow';
import { testConfig, testEnv, token, uniqueId, waitFor } from './support';

type Json = Record<string, any>;

describe('money out review: stranded seller money', () => {
  let pg: Client;
  let dbHandle: DbHandle;
  let temporal: TemporalClient;
  let writer: string;
  let operator: string;
  const api = () => testEnv().apiBaseUrl;
  const psp = () => testEnv().pspBaseUrl;

  beforeAll(async () => {
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    dbHandle = createDb({ url: testConfig().DATABASE_URL, poolMax: 2, applicationName: 'money-out-review-test' });
    temporal = new TemporalClient({ connection: await Connection.connect({ address: testConfig().TEMPORAL_ADDRESS }), namespace: testConfig().TEMPORAL_NAMESPACE });
    writer = await token({ scope: 'payments:write payments:read refunds:write balances:read payouts:read' });
    operator = await token({ scope: 'ops:read ops:write', sub: 'operator-bob' });
  });
  afterAll(async () => {
    await setFaults({});
    await temporal.connection.close();
    await dbHandle.pool.end();
    await pg.end();
  });

  const call = async (method: string, path: string, payload?: unknown, auth?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${auth ?? writer}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST') headers['idempotency-key'] = uniqueId('key');
    const res = await fetch(`${api()}${path}`, { method, headers, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const capturedOrder = async (sellerId: string, quantity: number) => {
    const res = await call('POST', '/api/v1/payments', { buyerId: 'b', orderId: uniqueId('order'), totalAmount: { quantity, currency: 'EUR' }, paymentOrders: [{ sellerId, amount: { quantity, currency: 'EUR' } }], paymentMethod: { token: 'tok_visa' } });
    expect(res.status).toBe(202);
    const paymentId = res.json.paymentId as string;
    await waitFor('captured', async () => ((await call('GET', `/api/v1/payments/${paymentId}`)).json.paymentOrders[0].status === 'CAPTURED' ? true : undefined), 30_000, 200);
    return { paymentId, paymentOrderId: res.json.paymentOrders[0].paymentOrderId as string };
  };
  const settle = (unsettledAfterS = 3_600) =>
    temporal.workflow.execute('settlementWorkflow', { taskQueue: testConfig().TEMPORAL_TASK_QUEUE, workflowId: uniqueId('settlement-review'), args: [{ lookbackDays: 1, unsettledAfterS }] }) as Promise<SettlementSummary>;
  const payoutRun = (sellerId: string) =>
    temporal.workflow.execute('payoutWorkflow', { taskQueue: testConfig().TEMPORAL_TASK_QUEUE, workflowId: uniqueId('payout-review'), args: [{ sellerId, minMinor: '1', returnWatchS: 0, returnPollS: 1 }] }) as Promise<PayoutRunSummary>;
  const setFaults = (faults: { drop?: string[]; alter?: Record<string, string> }) =>
    fetch(`${psp()}/v1/settlements/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ drop: faults.drop ?? [], alter: faults.alter ?? {}, alterFee: {} }) });
  const scalar = async (q: string, params: unknown[]) => (await pg.query<{ v: string | null }>(q, params)).rows[0]?.v ?? null;
  const pastLag = () => new Promise((r) => setTimeout(r, 2_500));
  /** A seller whose only capture the PSP settles at another gross: the amount-mismatch id and the order. */
  const amountMismatch = async (seller: string) => {
    const order = await capturedOrder(seller, 8_000);
    await setFaults({ alter: { [order.paymentOrderId]: '7990' } });
    await pastLag();
    await settle(1);
    await setFaults({});
    const item = `stl_${(await scalar('select psp_capture_id as v from payment_orders where id = $1', [order.paymentOrderId]))!}`;
    const mismatchId = (await scalar(`select id::text as v from reconciliation_mismatches where kind = 'amount-mismatch' and subject_id = $1`, [item]))!;
    expect(mismatchId).not.toBeNull();
    return { ...order, item, mismatchId };
  };
  const scheduleExists = async (sellerId: string) =>
    temporal.schedule
      .getHandle(payoutScheduleId(sellerId, testConfig().TEMPORAL_TASK_QUEUE))
      .describe()
      .then(
        () => true,
        (err: Error) => {
          if (err.name === 'ScheduleNotFoundError') return false;
          throw err;
        },
      );

  test('an ADJUSTMENT naming an amount mismatch does not strand the capture: it is refused, or the item can still be accepted and the share paid', async () => {
    const seller = uniqueId('review-adjust-seller');
    const mm = await amountMismatch(seller);
    const adjustment = await call('POST', '/api/v1/ops/ledger/adjustments', { streamId: seller, debitAccount: 'PLATFORM_CASH', creditAccount: 'PSP_RECEIVABLES', amount: { quantity: 10, currency: 'EUR' }, reason: `PSP under-settled by 10 (mismatch #${mm.mismatchId})`, mismatchId: mm.mismatchId }, operator);
    const accept = await call('POST', `/api/v1/ops/reconciliation/mismatches/${mm.mismatchId}/accept`, { reason: 'PSP confirmed 7 990' }, operator);
    // On 0c1cd5d: adjustment 201, accept 409, the order is never settled and the seller's 7 800 is never payable.
    expect({ adjustmentRefused: adjustment.status >= 400 && adjustment.status < 500, acceptStillPossible: accept.status === 200 }).not.toEqual({ adjustmentRefused: false, acceptStillPossible: false });
    await settle(1);
    expect(await scalar('select (settled_at is not null)::text as v from payment_orders where id = $1', [mm.paymentOrderId])).toBe('true');
    const run = await payoutRun(seller);
    expect(run.payouts.map((p) => p.amountMinor)).toEqual(['7800']);
    // ledger:verify sees a stranded item: made here by hand (the order's settled mark taken away).
    const stranded = async () => (await verifyLedger(dbHandle.db, { graceMs: 0, paymentIds: [mm.paymentId] })).checks.find((c) => /nothing the PSP paid us is stranded/.test(c.name))!.violations;
    expect(await stranded()).toBe(0);
    await pg.query('update payment_orders set settled_at = null where id = $1', [mm.paymentOrderId]);
    try {
      expect(await stranded()).toBe(1);
    } finally {
      await pg.query('update payment_orders set settled_at = now() where id = $1', [mm.paymentOrderId]);
    }
  });

  test("accepting the mismatch of a seller's first settled capture gives the seller a payout Schedule", async () => {
    const seller = uniqueId('review-accept-seller');
    const mm = await amountMismatch(seller);
    expect(await scheduleExists(seller)).toBe(false);
    expect((await call('POST', `/api/v1/ops/reconciliation/mismatches/${mm.mismatchId}/accept`, { reason: 'PSP confirmed 7 990' }, operator)).status).toBe(200);
    await settle(1); // the next settlement run, at the latest
    // On 0c1cd5d: payout_accounts row with schedule_created_at null, no Schedule until a worker restart.
    expect(await scheduleExists(seller)).toBe(true);
  });

  test("an ADJUSTMENT crediting a seller's payable is refused or payable: the balance's available is what a payout run reserves", async () => {
    const seller = uniqueId('review-adjusted-seller');
    const adjustment = await call('POST', '/api/v1/ops/ledger/adjustments', { streamId: seller, debitAccount: 'PLATFORM_CASH', creditAccount: `MERCHANT_PAYABLE.${seller}`, amount: { quantity: 5_000, currency: 'EUR' }, reason: 'a settled-unknown capture understood to be this seller' }, operator);
    expect(adjustment.status).toBe(201); // allowed, and payable: the adjustment gives the seller a payout account
    const available = await waitFor('available', async () => ((await call('GET', `/api/v1/sellers/${seller}/balance`, undefined, await token({ scope: 'balances:read' }))).json.available as Json[] | undefined), 10_000, 200);
    const run = await payoutRun(seller);
    // On 0c1cd5d: available shows 5 000, the run reserves nothing (no payout_accounts row) and there is no Schedule.
    expect(run.payouts.map((p) => Number(p.amountMinor))).toEqual(available.map((a) => a.availableMinor));
  });
  // A second review (branch rev16b) found the next three.
  const settlementEntriesOf = async (captureId: string) => (await pg.query<{ id: string }>(`select f.id from ledger_facts f join settlement_items i on f.id = 'SETTLEMENT:' || i.item_id where i.psp_capture_id = $1 and i.kind = 'CAPTURE'`, [captureId])).rows.map((r) => r.id);
  const openMismatch = (kind: string, subject: string) => scalar(`select count(*)::text as v from reconciliation_mismatches where kind = $1 and subject_id = $2 and resolved_at is null`, [kind, subject]);

  test('a second PSP item for a capture already settled is never settled again (rematch and import): a duplicate-settlement mismatch instead', async () => {
    const seller = uniqueId('review-dup-seller');
    const order = await capturedOrder(seller, 8_000);
    await pastLag();
    await settle();
    const captureId = (await scalar('select psp_capture_id as v from payment_orders where id = $1', [order.paymentOrderId]))!;
    expect(await settlementEntriesOf(captureId)).toEqual([`SETTLEMENT:stl_${captureId}`]);
    // The PSP re-issues the item under another id, filed settled-unknown at its import; the next run's rematch finds it ours.
    const dupItem = `stl_dup_${captureId}`;
    await pg.query(
      `insert into settlement_items (item_id, report_date, kind, psp_capture_id, psp_refund_id, reference, gross_minor, fee_minor, net_minor, currency)
       select $1, report_date, kind, psp_capture_id, null, reference, gross_minor, fee_minor, net_minor, currency from settlement_items where item_id = $2`,
      [dupItem, `stl_${captureId}`],
    );
    await pg.query(`insert into reconciliation_mismatches (kind, subject_id, report_date, seller_id, details) select 'settled-unknown', item_id, report_date, null, '{}'::jsonb from settlement_items where item_id = $1`, [dupItem]);
    await settle();
    expect(await settlementEntriesOf(captureId)).toEqual([`SETTLEMENT:stl_${captureId}`]);
    expect(await openMismatch('duplicate-settlement', dupItem)).toBe('1');
    // A correction in a later report, imported directly.
    const report = (await (await fetch(`${psp()}/v1/settlements/${(await scalar('select report_date as v from settlement_items where item_id = $1', [`stl_${captureId}`]))!}`)).json()) as SettlementReportDto;
    const original = report.items.find((i) => i.captureId === captureId)!;
    const corrected = await importSettlementReport(dbHandle.db, { ...report, date: '2099-01-01', items: [{ ...original, itemId: `stl_corr_${captureId}` }] });
    expect(corrected).toMatchObject({ settled: 0, mismatches: 1 });
    expect(await settlementEntriesOf(captureId)).toEqual([`SETTLEMENT:stl_${captureId}`]);
    expect(await openMismatch('duplicate-settlement', `stl_corr_${captureId}`)).toBe('1');
  });

  test('an accepted amount mismatch, then the same capture in a later report: not settled twice', async () => {
    const seller = uniqueId('review-accept-dup');
    const mm = await amountMismatch(seller);
    const captureId = mm.item.slice('stl_'.length);
    const report = (await (await fetch(`${psp()}/v1/settlements/${(await scalar('select report_date as v from settlement_items where item_id = $1', [mm.item]))!}`)).json()) as SettlementReportDto;
    expect('accepted' in (await acceptSettledItem(dbHandle.db, { mismatchId: mm.mismatchId, reason: 'PSP confirmed 7 990', actor: 'review' }))).toBe(true);
    const original = report.items.find((i) => i.captureId === captureId)!;
    await importSettlementReport(dbHandle.db, { ...report, date: '2099-01-02', items: [{ ...original, itemId: `stl_corr_${captureId}`, grossMinor: '8000', netMinor: String(8_000 - Number(original.feeMinor)) }] });
    expect(await settlementEntriesOf(captureId)).toEqual([`SETTLEMENT:${mm.item}`]);
    expect(await openMismatch('duplicate-settlement', `stl_corr_${captureId}`)).toBe('1');
  });

  test("an adjustment of another seller's payable than its stream's is refused (it would be neither available nor paid)", async () => {
    const a = uniqueId('review-stream-a');
    const b = uniqueId('review-seller-b');
    const refused = await call('POST', '/api/v1/ops/ledger/adjustments', { streamId: a, debitAccount: 'PLATFORM_CASH', creditAccount: `MERCHANT_PAYABLE.${b}`, amount: { quantity: 5_000, currency: 'EUR' }, reason: 'owed to seller B' }, operator);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json.errors)).toContain('MERCHANT_PAYABLE.{streamId}');
    expect(await scalar('select count(*)::text as v from ledger_adjustments where stream_id = $1', [a])).toBe('0');
  });

  test('ledger:verify flags a settled-unknown item closed by an adjustment that turns out to name one of our captures', async () => {
    const seller = uniqueId('review-late-capture');
    const order = await capturedOrder(seller, 8_000);
    const captureId = (await scalar('select psp_capture_id as v from payment_orders where id = $1', [order.paymentOrderId]))!;
    await pg.query('update payment_orders set psp_capture_id = null where id = $1', [order.paymentOrderId]);
    await pastLag();
    await settle();
    const unknown = (await scalar(`select id::text as v from reconciliation_mismatches where kind = 'settled-unknown' and subject_id = $1`, [`stl_${captureId}`]))!;
    const unmatched = async () => (await verifyLedger(dbHandle.db, { graceMs: 0, paymentIds: [order.paymentId] })).checks.find((c) => /left unmatched/.test(c.name))!.violations;
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', { streamId: 'platform', debitAccount: 'PLATFORM_CASH', creditAccount: 'PSP_RECEIVABLES', amount: { quantity: 1, currency: 'EUR' }, reason: 'not understood to be ours', mismatchId: unknown }, operator)).status).toBe(201);
    expect(await unmatched()).toBe(0); // nothing of ours names it yet
    await pg.query('update payment_orders set psp_capture_id = $2 where id = $1', [order.paymentOrderId, captureId]); // the capture's look-up resolves
    expect(await unmatched()).toBe(1);
  });
});
