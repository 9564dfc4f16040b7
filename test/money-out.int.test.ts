/**
 * Money out against the real stack (the run's API, worker, PSP simulator with a 2 s settlement lag
 * and a 3 s payout return, Postgres, Temporal, Kafka, aggregator): settlement import (twice = once),
 * reconciliation mismatches (a dropped item, an altered amount) shown by the operator endpoint, the
 * recon command and the gauge, an audited ADJUSTMENT, payouts (captures, a refund, a returned payout,
 * seller debt) checked by hand-computed figures, and a refund racing a payout reservation.
 *
 * The run's commission is 250 bps (test/global-setup.ts): a capture of A owes the seller
 * A - floor(A * 0.025); a refund of R takes back R - its commission share.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { createDb, type DbHandle } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { availableBalances, reservePayouts } from '../db/payouts';
import { createPayoutActivities } from '../activities/payout.activities';
import { createLogger } from '../observability/logger';
import { createMoneyOutClient } from '../psp/money-out.client';
import { deletePayoutSchedule, ensureAllPayoutSchedules, ensurePayoutSchedule } from '../temporal/payout-schedules';
import { sweepPayoutsOnce } from '../temporal/payout-sweeper';
import type { PayoutRunSummary } from '../workflows/payout.workflow';
import type { SettlementSummary } from '../workflows/settlement.workflow';
import { ROOT, testConfig, testEnv, token, uniqueId, waitFor } from './support';

type Json = Record<string, any>;

describe('money out: settlement, reconciliation, payouts', () => {
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
    dbHandle = createDb({ url: testConfig().DATABASE_URL, poolMax: 4, applicationName: 'money-out-test' });
    temporal = new TemporalClient({ connection: await Connection.connect({ address: testConfig().TEMPORAL_ADDRESS }), namespace: testConfig().TEMPORAL_NAMESPACE });
    writer = await token({ scope: 'payments:write payments:read refunds:write balances:read payouts:read' });
    operator = await token({ scope: 'ops:read ops:write', sub: 'operator-alice' });
  });
  afterAll(async () => {
    // Whatever happened above, the ledger holds its invariants, money out included (ledger:verify's checks).
    // Per-order checks, settlements included, over this file's payments (other test files share
    // the database, some with deliberately broken rows); payouts and platform cash over all.
    const violations = async () => [
      ...(await verifyLedger(dbHandle.db, { graceMs: 0, paymentIds: ourPayments })).checks,
      ...(await verifyLedger(dbHandle.db, { graceMs: 0 })).checks.filter((c) => /payout|platform cash/i.test(c.name)),
    ].filter((c) => c.violations > 0);
    const failing = await waitFor('the ledger verified', async () => ((await violations()).length === 0 ? [] : undefined), 30_000, 500).catch(violations);
    expect(failing).toEqual([]);
    await fetch(`${psp()}/v1/settlements/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ drop: [], alter: {} }) });
    await temporal.connection.close();
    await dbHandle.pool.end();
    await pg.end();
  });

  /** `key`: the Idempotency-Key of a POST (a fresh one by default; null sends none). */
  const call = async (method: string, path: string, payload?: unknown, options: { auth?: string; key?: string | null } = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${options.auth ?? writer}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const key = options.key === undefined ? uniqueId('key') : options.key;
    if (method === 'POST' && key !== null) headers['idempotency-key'] = key;
    const res = await fetch(`${api()}${path}`, { method, headers, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json, replayed: res.headers.get('idempotent-replayed') === 'true' };
  };
  /** One payment of one order for `sellerId`, captured; returns the order id. */
  const ourPayments: string[] = [];
  const capturedOrder = async (sellerId: string, quantity: number): Promise<{ paymentId: string; paymentOrderId: string }> => {
    const res = await call('POST', '/api/v1/payments', {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity, currency: 'EUR' },
      paymentOrders: [{ sellerId, amount: { quantity, currency: 'EUR' } }],
      paymentMethod: { token: 'tok_visa' },
    });
    expect(res.status).toBe(202);
    const paymentId = res.json.paymentId as string;
    ourPayments.push(paymentId);
    await waitFor('captured', async () => ((await call('GET', `/api/v1/payments/${paymentId}`)).json.paymentOrders[0].status === 'CAPTURED' ? true : undefined), 30_000, 200);
    return { paymentId, paymentOrderId: res.json.paymentOrders[0].paymentOrderId as string };
  };
  const refunded = async (paymentId: string, paymentOrderId: string, quantity: number) => {
    const res = await call('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId, amount: { quantity, currency: 'EUR' } });
    expect(res.status).toBe(202);
    const refundId = res.json.refundId as string;
    await waitFor('refunded', async () => ((await call('GET', `/api/v1/refunds/${refundId}`)).json.status === 'REFUNDED' ? true : undefined), 30_000, 200);
    return refundId;
  };
  const settle = (unsettledAfterS = 3_600) =>
    temporal.workflow.execute('settlementWorkflow', { taskQueue: testConfig().TEMPORAL_TASK_QUEUE, workflowId: uniqueId('settlement-test'), args: [{ lookbackDays: 1, unsettledAfterS }] }) as Promise<SettlementSummary>;
  const setFaults = (faults: { drop?: string[]; alter?: Record<string, string>; alterFee?: Record<string, string> }) =>
    fetch(`${psp()}/v1/settlements/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ drop: faults.drop ?? [], alter: faults.alter ?? {}, alterFee: faults.alterFee ?? {} }) });
  const scalar = async (q: string, params: unknown[]) => (await pg.query<{ v: string | null }>(q, params)).rows[0]?.v ?? null;
  const entriesOf = (like: string) => scalar(`select count(*)::text as v from journal_entries where id like $1`, [like]).then(Number);
  const captureIdOf = (paymentOrderId: string) => scalar('select psp_capture_id as v from payment_orders where id = $1', [paymentOrderId]);
  const payable = async (sellerId: string) => BigInt((await scalar(`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as v from postings where account_code = $1`, [`MERCHANT_PAYABLE.${sellerId}`]))!);
  const journaled = (what: string, ids: string[]) => waitFor(what, async () => ((await scalar('select count(*)::text as v from journal_entries where id = any($1)', [ids])) === String(ids.length) ? true : undefined), 30_000, 200);
  /** Waits until the reports of the lag have passed for everything captured so far. */
  const pastLag = () => new Promise((r) => setTimeout(r, 2_500));

  test('importing a settlement day twice posts one set of SETTLEMENT entries and marks the captures settled', async () => {
    const seller = uniqueId('stl-seller');
    const a = await capturedOrder(seller, 10_000);
    const b = await capturedOrder(seller, 999);
    await pastLag();
    const first = await settle();
    expect(first.days.some((d) => d.settled >= 2)).toBe(true);
    const ids = [`SETTLEMENT:stl_${(await captureIdOf(a.paymentOrderId))!}`, `SETTLEMENT:stl_${(await captureIdOf(b.paymentOrderId))!}`];
    await journaled('both SETTLEMENT entries', ids);
    // fee 1.4 % + 25 rounded down: 165 and 38.
    const { rows } = await pg.query<{ account_code: string; direction: string; s: string }>(`select account_code, direction, sum(amount_minor)::text as s from postings where journal_entry_id = any($1) group by 1, 2 order by 1, 2`, [ids]);
    expect(rows).toEqual([
      { account_code: 'PLATFORM_CASH', direction: 'DEBIT', s: String(10_000 - 165 + 999 - 38) },
      { account_code: 'PSP_FEE_EXPENSE', direction: 'DEBIT', s: String(165 + 38) },
      { account_code: 'PSP_RECEIVABLES', direction: 'CREDIT', s: String(10_999) },
    ]);
    const before = { items: await scalar('select count(*)::text as v from settlement_items', []), postings: await scalar('select count(*)::text as v from postings', []) };
    const second = await settle();
    expect(second.days.every((d) => d.newItems === 0 || d.settled + d.mismatches <= d.newItems)).toBe(true);
    expect(await entriesOf('SETTLEMENT:stl_%')).toBeGreaterThanOrEqual(2);
    expect((await pg.query('select id from journal_entries where id = any($1)', [ids])).rowCount).toBe(2);
    expect(await scalar('select count(*)::text as v from settlement_items where item_id = any($1)', [ids.map((i) => i.slice('SETTLEMENT:'.length))])).toBe('2');
    expect(await scalar('select count(*)::text as v from payment_orders where id = any($1) and settled_at is not null', [[a.paymentOrderId, b.paymentOrderId]])).toBe('2');
    // Nothing new since the first import of these items (other tests' captures may have settled meanwhile).
    expect(Number(await scalar('select count(*)::text as v from settlement_items', []))).toBeGreaterThanOrEqual(Number(before.items));
    // The seller got its payout Schedule.
    const schedules: string[] = [];
    for await (const s of temporal.schedule.list()) schedules.push(s.scheduleId);
    expect(schedules).toContain(`payout:${seller}@${testConfig().TEMPORAL_TASK_QUEUE}`);
  });

  test('a dropped item is captured-not-settled, an altered amount is amount-mismatch; shown by the endpoint, recon and the gauge; an ADJUSTMENT is explicit and audited', async () => {
    const seller = uniqueId('recon-seller');
    const dropped = await capturedOrder(seller, 1_500);
    const altered = await capturedOrder(seller, 2_500);
    const feeCharged = await capturedOrder(seller, 3_000); // contracted fee 42 + 25 = 67
    await setFaults({ drop: [dropped.paymentOrderId], alter: { [altered.paymentOrderId]: '2501' }, alterFee: { [feeCharged.paymentOrderId]: '70' } });
    await pastLag();
    await settle(1);
    const alteredItem = `stl_${(await captureIdOf(altered.paymentOrderId))!}`;
    const feeItem = `stl_${(await captureIdOf(feeCharged.paymentOrderId))!}`;
    const { rows } = await pg.query<{ kind: string; subject_id: string }>(`select kind, subject_id from reconciliation_mismatches where subject_id = any($1) and resolved_at is null order by kind`, [[dropped.paymentOrderId, alteredItem, feeItem]]);
    expect(rows).toEqual([
      { kind: 'amount-mismatch', subject_id: alteredItem },
      { kind: 'captured-not-settled', subject_id: dropped.paymentOrderId },
      { kind: 'fee-mismatch', subject_id: feeItem },
    ]);
    expect(await entriesOf(`SETTLEMENT:${feeItem}`)).toBe(0);
    // Nothing moved money: no SETTLEMENT entry for either, neither marked settled.
    expect(await entriesOf(`SETTLEMENT:${alteredItem}`)).toBe(0);
    expect(await scalar('select count(*)::text as v from payment_orders where id = any($1) and settled_at is not null', [[dropped.paymentOrderId, altered.paymentOrderId]])).toBe('0');

    const today = new Date().toISOString().slice(0, 10);
    const listed = await call('GET', `/api/v1/ops/reconciliation/mismatches?date=${today}`, undefined, { auth: operator });
    expect(listed.status).toBe(200);
    expect(listed.json.mismatches.filter((m: Json) => [dropped.paymentOrderId, alteredItem].includes(m.subjectId)).map((m: Json) => m.kind).sort()).toEqual(['amount-mismatch', 'captured-not-settled']);
    expect((await call('GET', '/api/v1/ops/reconciliation/mismatches')).status).toBe(403); // writer has no ops:read
    expect((await call('GET', '/api/v1/ops/reconciliation/mismatches?date=tomorrow', undefined, { auth: operator })).status).toBe(400);

    const recon = await promisify(execFile)('node', ['--import', 'tsx', 'scripts/recon.ts', '--date', today], { cwd: ROOT, env: { ...process.env, ...testEnv().env, PAYORCH_ENV_FILE: '/dev/null' } }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(recon.code).toBe(1);
    expect(recon.stdout).toContain(`amount-mismatch ${alteredItem}`);
    expect(recon.stdout).toContain(`captured-not-settled ${dropped.paymentOrderId}`);

    const metrics = await (await fetch(`http://127.0.0.1:${testEnv().env.WORKER_METRICS_PORT}/metrics`)).text();
    expect(Number(/payorch_reconciliation_mismatches\{kind="amount-mismatch"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/payorch_reconciliation_mismatches\{kind="captured-not-settled"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);

    // An adjustment never resolves a mismatch of our own capture (it would stay unsettled for good):
    // an amount or fee mismatch is accepted (test below), captured-not-settled waits for the PSP.
    const mismatchOf = async (kind: string, subject: string) => String((await scalar(`select id::text as v from reconciliation_mismatches where kind = $1 and subject_id = $2`, [kind, subject]))!);
    const body = { streamId: seller, debitAccount: 'PLATFORM_CASH', creditAccount: 'PSP_RECEIVABLES', amount: { quantity: 1, currency: 'EUR' } };
    for (const [kind, subject] of [['amount-mismatch', alteredItem], ['fee-mismatch', feeItem], ['captured-not-settled', dropped.paymentOrderId]] as const) {
      const refused = await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, reason: 'try to resolve it by hand', mismatchId: await mismatchOf(kind, subject) }, { auth: operator });
      expect({ kind, status: refused.status, type: refused.json.type as string }).toEqual({ kind, status: 422, type: expect.stringContaining('mismatch-needs-accept') });
    }
    // Money the PSP settled that is not ours (settled-unknown) is booked by an explicit adjustment:
    // a reason is required, the actor is recorded, the mismatch resolved once.
    const unknownItem = uniqueId('stl_unknown');
    const mismatchId = (await scalar(`insert into reconciliation_mismatches (kind, subject_id, report_date, details) values ('settled-unknown', $1, $2, '{}') returning id::text as v`, [unknownItem, today]))!;
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, mismatchId }, { auth: operator })).status).toBe(400); // no reason
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, mismatchId, reason: 'PSP settled an unknown item: a payment of another platform (ticket #7)' })).status).toBe(403);
    const adjusted = await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, mismatchId, reason: 'PSP settled an unknown item: a payment of another platform (ticket #7)' }, { auth: operator });
    expect(adjusted.status).toBe(201);
    await journaled('the ADJUSTMENT entry', [adjusted.json.journalEntryId]);
    expect(await scalar('select actor as v from ledger_adjustments where id = $1', [adjusted.json.adjustmentId])).toBe('operator-alice');
    expect(await scalar('select resolution as v from reconciliation_mismatches where id = $1', [mismatchId])).toContain('operator-alice');
    // The mismatch is resolved: a second adjustment for it is refused and books nothing.
    const again = await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, mismatchId, reason: 'the same, again' }, { auth: operator });
    expect(again.status).toBe(409);
    expect(await scalar('select count(*)::int as v from ledger_adjustments where mismatch_id = $1', [mismatchId])).toBe(1);
    await setFaults({});
  });

  test('an adjustment is idempotent: a retried POST replays the first answer and books one entry; the key is required', async () => {
    const stream = uniqueId('seller-adjust');
    const body = { streamId: stream, debitAccount: 'PLATFORM_CASH', creditAccount: `MERCHANT_PAYABLE.${stream}`, amount: { quantity: 250, currency: 'EUR' }, reason: 'goodwill credit' };
    const count = async () => Number(await scalar('select count(*)::int as v from ledger_adjustments where stream_id = $1', [stream]));
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', body, { auth: operator, key: null })).status).toBe(400);
    const key = uniqueId('adjust-key');
    const first = await call('POST', '/api/v1/ops/ledger/adjustments', body, { auth: operator, key });
    expect(first.status).toBe(201);
    const retried = await call('POST', '/api/v1/ops/ledger/adjustments', body, { auth: operator, key });
    expect(retried.status).toBe(201);
    expect(retried.replayed).toBe(true);
    expect(retried.json.adjustmentId).toBe(first.json.adjustmentId);
    // The same key with another amount is another request: refused, nothing booked.
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, amount: { quantity: 999, currency: 'EUR' } }, { auth: operator, key })).status).toBe(422);
    expect(await count()).toBe(1);
    await journaled('the one ADJUSTMENT entry', [first.json.journalEntryId]);
    expect(await scalar('select count(*)::int as v from journal_entries where seller_id = $1', [stream])).toBe(1);
    // An unknown mismatch id: 404, nothing booked.
    expect((await call('POST', '/api/v1/ops/ledger/adjustments', { ...body, mismatchId: '999999999' }, { auth: operator })).status).toBe(404);
    expect(await count()).toBe(1);
  });

  const runPayout = (sellerId: string, returnWatchS = 0) =>
    temporal.workflow.execute('payoutWorkflow', { taskQueue: testConfig().TEMPORAL_TASK_QUEUE, workflowId: uniqueId(`payout-test:${sellerId}`), args: [{ sellerId, minMinor: '1', returnWatchS, returnPollS: 1 }] }) as Promise<PayoutRunSummary>;
  const balanceOf = async (sellerId: string) => (await call('GET', `/api/v1/sellers/${encodeURIComponent(sellerId)}/balance`)).json;

  test('a seller with captures, a refund and a returned payout: ledger, available and balance match the figures by hand', async () => {
    const seller = uniqueId('seller-payout-return');
    const one = await capturedOrder(seller, 10_000); // owes 9 750
    await capturedOrder(seller, 5_000); // owes 4 875
    await refunded(one.paymentId, one.paymentOrderId, 2_000); // takes back 2 000 - 50 = 1 950
    // Before settlement nothing is available; the refund already counts.
    expect((await availableBalances(dbHandle.db, seller)).map((a) => a.availableMinor)).toEqual([]);
    await pastLag();
    await settle();
    const expected = 9_750n + 4_875n - 1_950n;
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(expected);

    const run = await runPayout(seller, 8);
    expect(run.payouts).toEqual([expect.objectContaining({ amountMinor: String(expected), currency: 'EUR', outcome: 'RETURNED' })]);
    const payoutId = run.payouts[0]!.payoutId;
    await journaled('PAYOUT and PAYOUT_RETURN', [`PAYOUT:${payoutId}`, `PAYOUT_RETURN:${payoutId}`]);
    // The rail paid exactly once for the payout, and the money came back.
    const rail = ((await (await fetch(`${psp()}/v1/payouts/log?sellerId=${encodeURIComponent(seller)}`)).json()) as { payouts: Json[] }).payouts;
    expect(rail.map((p) => [p.reference, p.amountMinor, p.status])).toEqual([[payoutId, String(expected), 'RETURNED']]);
    // Ledger: 9 750 + 4 875 - 1 950 - payout + return.
    await waitFor('the payable journaled', async () => ((await payable(seller)) === expected ? true : undefined), 30_000, 200);
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(expected);
    const events = (await pg.query<{ type: string }>('select type from merchant_events where subject_id = $1 order by type', [payoutId])).rows.map((r) => r.type);
    expect(events).toEqual(['payout.paid', 'payout.returned']);

    const balance = await waitFor('the balance API caught up', async () => {
      const b = await balanceOf(seller);
      const q = b.balances.find((x: Json) => x.accountCode === `MERCHANT_PAYABLE.${seller}`)?.balance.quantity;
      return q === Number(expected) ? b : undefined;
    }, 30_000, 300);
    expect(balance.available).toEqual([{ currency: 'EUR', availableMinor: Number(expected), debtMinor: 0 }]);

    const listed = await call('GET', `/api/v1/sellers/${encodeURIComponent(seller)}/payouts`);
    expect(listed.json.payouts).toEqual([expect.objectContaining({ payoutId, status: 'RETURNED', amount: { quantity: Number(expected), currency: 'EUR' }, paidAt: expect.any(String) })]);
    const own = await token({ scope: '', sellerId: seller });
    expect((await call('GET', `/api/v1/payouts/${payoutId}`, undefined, { auth: own })).json).toMatchObject({ payoutId, sellerId: seller, status: 'RETURNED' });
    expect((await call('GET', `/api/v1/payouts/${payoutId}`, undefined, { auth: await token({ scope: '', sellerId: 'someone-else' }) })).status).toBe(404);
    expect((await call('GET', '/api/v1/sellers/me/payouts', undefined, { auth: own })).json.payouts).toHaveLength(1);
  });

  test('refunds of money already paid out leave a debt that the next payout nets against; a failing rail pays nothing', async () => {
    const seller = uniqueId('debt-seller');
    const order = await capturedOrder(seller, 1_000); // owes 975
    await pastLag();
    await settle();
    const paid = await runPayout(seller);
    expect(paid.payouts).toEqual([expect.objectContaining({ amountMinor: '975', outcome: 'PAID' })]);
    await refunded(order.paymentId, order.paymentOrderId, 1_000); // takes back 975
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(-975n);
    const next = await capturedOrder(seller, 2_000); // owes 1 950
    expect(next).toBeDefined();
    await pastLag();
    await settle();
    const netted = await runPayout(seller);
    expect(netted.payouts).toEqual([expect.objectContaining({ amountMinor: String(1_950 - 975), outcome: 'PAID' })]);
    expect(await waitFor('payable', async () => ((await payable(seller)) === 0n ? true : undefined), 30_000, 200)).toBe(true);
    expect((await balanceOf(seller)).available).toEqual([{ currency: 'EUR', availableMinor: 0, debtMinor: 0 }]);

    const failing = uniqueId('seller-payout-fail');
    await capturedOrder(failing, 3_000);
    await pastLag();
    await settle();
    const failed = await runPayout(failing);
    expect(failed.payouts).toEqual([expect.objectContaining({ outcome: 'FAILED' })]);
    expect(await entriesOf(`PAYOUT:${failed.payouts[0]!.payoutId}`)).toBe(0);
    expect((await availableBalances(dbHandle.db, failing))[0]!.availableMinor).toBe(3_000n - 75n); // a failed payout reserves nothing
  });

  test('a refund racing a payout reservation: the payout never exceeds what was available', async () => {
    // The refund's insert waits for a reservation holding the seller's lock.
    const seller = uniqueId('race-seller');
    const order = await capturedOrder(seller, 10_000); // owes 9 750
    await pastLag();
    await settle();
    const holder = new Client({ connectionString: testConfig().DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from payout_accounts where seller_id = $1 for update', [seller]);
      let refundDone = false;
      const refunding = call('POST', `/api/v1/payments/${order.paymentId}/refunds`, { paymentOrderId: order.paymentOrderId, amount: { quantity: 4_000, currency: 'EUR' } }).then((r) => {
        refundDone = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(refundDone).toBe(false);
      await holder.query('commit');
      expect((await refunding).status).toBe(202);
    } finally {
      await holder.end();
    }

    // Racing for real, several times: whichever commits first, payout + refunds never exceed the settled amount.
    for (let i = 0; i < 5; i++) {
      const racer = uniqueId('race-seller');
      const o = await capturedOrder(racer, 10_000); // owes 9 750
      await pastLag();
      await settle();
      const [reserved, refund] = await Promise.all([
        reservePayouts(dbHandle.db, { sellerId: racer, period: uniqueId('race-period'), minMinor: 1n }),
        call('POST', `/api/v1/payments/${o.paymentId}/refunds`, { paymentOrderId: o.paymentOrderId, amount: { quantity: 6_000, currency: 'EUR' } }),
      ]);
      expect(refund.status).toBe(202);
      const amount = BigInt(reserved[0]?.amountMinor ?? '0');
      // Refund first: 9 750 - 6 000 (in flight, counted whole) = 3 750; payout first: 9 750, and the refund is then the seller's debt.
      expect([3_750n, 9_750n]).toContain(amount);
      await waitFor('refunded', async () => ((await call('GET', `/api/v1/refunds/${refund.json.refundId as string}`)).json.status === 'REFUNDED' ? true : undefined), 30_000, 200);
      // Once refunded it takes back 6 000 - 150 (its commission share).
      expect((await availableBalances(dbHandle.db, racer))[0]!.availableMinor).toBe(9_750n - 5_850n - amount);
    }
  });

  test("a seller's first settlement waits for a refund in flight: the first payout counts it", async () => {
    // A new seller has no payout account row (the lock a refund and a reservation share) until its
    // first settlement. A refund in flight at that moment is still serialised with the payout: the
    // settlement locks the order rows it settles (FOR UPDATE), which waits for the refund's insert
    // (its foreign key holds the order row), and refunds of orders not yet settled do not count
    // in `available` at all.
    const seller = uniqueId('new-seller');
    const order = await capturedOrder(seller, 10_000); // owes 9 750
    await pastLag();
    expect(await scalar('select count(*)::text as v from payout_accounts where seller_id = $1', [seller])).toBe('0');
    const refunder = new Client({ connectionString: testConfig().DATABASE_URL });
    await refunder.connect();
    let refundId: string | undefined;
    try {
      // The refund's insert (what the API does), its transaction left open for a moment.
      await refunder.query('begin');
      refundId = (
        await refunder.query<{ id: string }>(
          `insert into refunds (id, payment_id, payment_order_id, seller_id, amount_minor, currency, status, workflow_started_at)
           values (gen_random_uuid(), $1, $2, $3, 6000, 'EUR', 'REFUND_REQUESTED', now()) returning id`,
          [order.paymentId, order.paymentOrderId, seller],
        )
      ).rows[0]!.id;
      // Had the settlement not waited for the refund, it would commit now, and a reservation made
      // before the refund commits would not count it.
      const settling = settle();
      const first = await Promise.race([settling.then(() => 'settled' as const), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 8_000))]);
      const reserve = () => reservePayouts(dbHandle.db, { sellerId: seller, period: uniqueId('first-period'), minMinor: 1n });
      let reserved: Awaited<ReturnType<typeof reserve>>[number] | undefined;
      if (first === 'settled') {
        [reserved] = await reserve();
        await refunder.query('commit');
      } else {
        await refunder.query('commit');
        await settling;
        [reserved] = await reserve();
      }
      // 9 750 settled - 6 000 in flight (counted whole) = 3 750, never 9 750.
      expect({ first, amount: reserved?.amountMinor }).toEqual({ first: 'waiting', amount: '3750' });
      await pg.query(`update payouts set status = 'FAILED', failure_code = 'test' where id = $1`, [reserved!.payoutId]);
    } finally {
      await refunder.query('rollback').catch(() => undefined);
      await refunder.end();
      // The refund was simulated in SQL (no workflow, no reservation on the order): remove it.
      if (refundId) await pg.query('delete from refunds where id = $1', [refundId]);
    }
  });

  test('one payout per seller and period: a second reservation of the period (a retry, a restarted worker) returns the first; Schedules are ensured idempotently', async () => {
    const seller = uniqueId('period-seller');
    await capturedOrder(seller, 4_000); // owes 3 900
    await pastLag();
    await settle();
    const period = uniqueId('period');
    const [first, second] = await Promise.all([reservePayouts(dbHandle.db, { sellerId: seller, period, minMinor: 1n }), reservePayouts(dbHandle.db, { sellerId: seller, period, minMinor: 1n })]);
    expect(first).toEqual(second);
    expect(first).toEqual([expect.objectContaining({ amountMinor: '3900' })]);
    expect(await scalar('select count(*)::text as v from payouts where seller_id = $1', [seller])).toBe('1');
    // A worker start (re)ensures every payout Schedule: still one per seller, an operator's pause kept.
    const config = testConfig();
    const id = `payout:${seller}@${config.TEMPORAL_TASK_QUEUE}`;
    await temporal.schedule.getHandle(id).pause('test: paused by an operator');
    await ensureAllPayoutSchedules(temporal, config, dbHandle.db);
    await ensurePayoutSchedule(temporal, config, seller, { update: true });
    const described = await temporal.schedule.getHandle(id).describe();
    expect(described.state.paused).toBe(true);
    const ids: string[] = [];
    for await (const s of temporal.schedule.list()) if (s.scheduleId === id) ids.push(s.scheduleId);
    expect(ids).toEqual([id]);
    await deletePayoutSchedule(temporal, config, seller);
    // The minimum is honoured: nothing is left, so another period reserves nothing.
    expect(await reservePayouts(dbHandle.db, { sellerId: seller, period: uniqueId('period'), minMinor: 1n })).toEqual([]);
  });
  test('an item the PSP settled before we held its capture id is matched by a later settlement run, not left unknown', async () => {
    const seller = uniqueId('late-id-seller');
    const order = await capturedOrder(seller, 4_000);
    const captureId = (await captureIdOf(order.paymentOrderId))!;
    const item = `stl_${captureId}`;
    // As if the capture's outcome were still unknown to us when the report came (resolved by a later look-up).
    await pg.query('update payment_orders set psp_capture_id = null where id = $1', [order.paymentOrderId]);
    await pastLag();
    await settle();
    expect(await scalar(`select resolved_at::text as v from reconciliation_mismatches where kind = 'settled-unknown' and subject_id = $1`, [item])).toBeNull();
    expect(await scalar('select count(*)::text as v from reconciliation_mismatches where kind = $1 and subject_id = $2', ['settled-unknown', item])).toBe('1');
    await pg.query('update payment_orders set psp_capture_id = $2 where id = $1', [order.paymentOrderId, captureId]);
    // The next run re-imports the day (the item is stored: nothing new) and matches the stored item again.
    await settle();
    expect(await scalar(`select resolution as v from reconciliation_mismatches where kind = 'settled-unknown' and subject_id = $1`, [item])).toBe('matched later: settled');
    expect(await scalar('select seller_id as v from settlement_items where item_id = $1', [item])).toBe(seller);
    expect(await scalar('select (settled_at is not null)::text as v from payment_orders where id = $1', [order.paymentOrderId])).toBe('true');
    await journaled('the SETTLEMENT entry', [`SETTLEMENT:${item}`]);
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(3_900n);
  });

  test('an operator accepts an amount mismatch: the capture settles at the PSP figures, its refunds count, and it cannot be accepted twice', async () => {
    const seller = uniqueId('accept-seller');
    const altered = await capturedOrder(seller, 8_000); // owes 7 800
    const dropped = await capturedOrder(seller, 1_000);
    await setFaults({ alter: { [altered.paymentOrderId]: '7990' }, drop: [dropped.paymentOrderId] });
    await pastLag();
    await settle(1);
    await setFaults({});
    const item = `stl_${(await captureIdOf(altered.paymentOrderId))!}`;
    const mismatchId = (await scalar(`select id::text as v from reconciliation_mismatches where kind = 'amount-mismatch' and subject_id = $1`, [item]))!;
    const unsettledId = (await scalar(`select id::text as v from reconciliation_mismatches where kind = 'captured-not-settled' and subject_id = $1`, [dropped.paymentOrderId]))!;
    // A refund of the unsettled capture: neither counts in available yet.
    await refunded(altered.paymentId, altered.paymentOrderId, 1_000); // takes back 975
    expect((await availableBalances(dbHandle.db, seller)).map((a) => a.availableMinor)).toEqual([]);

    const path = `/api/v1/ops/reconciliation/mismatches/${mismatchId}/accept`;
    const reason = 'PSP confirmed 7 990 (ticket #42)';
    expect((await call('POST', path, { reason }, { auth: operator, key: null })).status).toBe(400); // no Idempotency-Key
    expect((await call('POST', path, {}, { auth: operator })).status).toBe(400); // no reason
    expect((await call('POST', path, { reason })).status).toBe(403); // no ops:write
    expect((await call('POST', '/api/v1/ops/reconciliation/mismatches/999999999/accept', { reason }, { auth: operator })).status).toBe(404);
    expect((await call('POST', '/api/v1/ops/reconciliation/mismatches/abc/accept', { reason }, { auth: operator })).status).toBe(404);
    const notAcceptable = await call('POST', `/api/v1/ops/reconciliation/mismatches/${unsettledId}/accept`, { reason }, { auth: operator });
    expect(notAcceptable.status).toBe(422);
    expect(notAcceptable.json.type).toContain('mismatch-not-acceptable');
    expect(await entriesOf(`SETTLEMENT:${item}`)).toBe(0);

    const key = uniqueId('accept-key');
    const accepted = await call('POST', path, { reason }, { auth: operator, key });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ mismatchId, itemId: item, sellerId: seller, journalEntryId: `SETTLEMENT:${item}`, actor: 'operator-alice' });
    const replay = await call('POST', path, { reason }, { auth: operator, key });
    expect({ status: replay.status, replayed: replay.replayed }).toEqual({ status: 200, replayed: true });
    expect((await call('POST', path, { reason: 'again' }, { auth: operator })).status).toBe(409);
    expect(await scalar('select resolution as v from reconciliation_mismatches where id = $1', [mismatchId])).toBe(`ACCEPTED as settled by operator-alice: ${reason}`);
    await journaled('the accepted SETTLEMENT entry', [`SETTLEMENT:${item}`]);
    // Settled at the PSP's gross: 7 990 out of PSP_RECEIVABLES (the 10 left there is for an ADJUSTMENT).
    expect(await scalar(`select sum(amount_minor)::text as v from postings where journal_entry_id = $1 and account_code = 'PSP_RECEIVABLES'`, [`SETTLEMENT:${item}`])).toBe('7990');
    // The share is available now, net of its refund: 7 800 - 975.
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(7_800n - 975n);
    // The seller's first settled money came from the acceptance: the next settlement run gives it its payout Schedule.
    await settle();
    const schedules: string[] = [];
    for await (const sch of temporal.schedule.list()) schedules.push(sch.scheduleId);
    expect(schedules).toContain(`payout:${seller}@${testConfig().TEMPORAL_TASK_QUEUE}`);
  });

  test('a payout its run left reserved is completed by the sweeper, once; a return after the run stopped watching is recorded', async () => {
    const seller = uniqueId('seller-payout-return-swept');
    await capturedOrder(seller, 2_000); // owes 1 950
    await pastLag();
    await settle();
    // A run that reserved and then ended without sending (terminated, reset, out of retries).
    const [reserved] = await reservePayouts(dbHandle.db, { sellerId: seller, period: uniqueId('swept-period'), minMinor: 1n });
    expect(reserved).toMatchObject({ amountMinor: '1950', status: 'PAYOUT_REQUESTED' });
    const moneyOut = createMoneyOutClient({ baseUrl: psp(), timeoutMs: 5_000 });
    const deps = { db: dbHandle.db, payouts: createPayoutActivities({ db: dbHandle.db, moneyOut, wakeLedger: async () => undefined }), log: createLogger({ name: 'payout-sweeper-test', level: 'silent' }) };
    const options = { stuckAfterS: 0, returnWatchS: 0, returnHorizonS: 3_600, recheckS: 0, limit: 1_000 };
    const railLog = async () => ((await (await fetch(`${psp()}/v1/payouts/log?sellerId=${encodeURIComponent(seller)}`)).json()) as { payouts: Json[] }).payouts;
    // Two sweepers at once (two workers): the payout is claimed by one.
    const [a, b] = await Promise.all([sweepPayoutsOnce(deps, options), sweepPayoutsOnce(deps, options)]);
    expect(a.sent + b.sent).toBeGreaterThanOrEqual(1);
    expect(await scalar('select status as v from payouts where id = $1', [reserved!.payoutId])).toBe('PAID');
    expect((await railLog()).map((p) => p.reference)).toEqual([reserved!.payoutId]);
    // The run itself finishing its send later pays nothing more (same idempotency key).
    expect((await deps.payouts.sendPayout(reserved!)).status).toBe('PAID');
    expect((await railLog()).map((p) => p.reference)).toEqual([reserved!.payoutId]);
    // The rail returns it after 3 s; no run is watching: the sweeper records it.
    await waitFor('the return recorded', async () => {
      await sweepPayoutsOnce(deps, options);
      return (await scalar('select status as v from payouts where id = $1', [reserved!.payoutId])) === 'RETURNED' ? true : undefined;
    }, 30_000, 500);
    // The run's own late look-up of the same return changes nothing.
    expect(await deps.payouts.checkPayoutReturned(reserved!)).toBe(true);
    expect((await deps.payouts.sendPayout(reserved!)).status).toBe('RETURNED');
    const facts = await scalar(`select count(*)::text as v from ledger_facts where id in ($1, $2)`, [`PAYOUT:${reserved!.payoutId}`, `PAYOUT_RETURN:${reserved!.payoutId}`]);
    expect(facts).toBe('2');
    expect((await railLog()).length).toBe(1);
    expect((await availableBalances(dbHandle.db, seller))[0]!.availableMinor).toBe(1_950n);
  });
});
