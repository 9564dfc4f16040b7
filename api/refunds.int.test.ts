/**
 * Money back through the API against the real stack (the run's API, worker, PSP simulator,
 * Postgres, Kafka, aggregator): cancel before and racing a capture, full, partial, concurrent and
 * failing refunds, unknown refund outcomes resolved by lookup. Every outcome is checked against
 * the PSP's own logs, the ledger (REFUND entries, commission reversed exactly) and the balances.
 */
import { Client } from 'pg';
import { verifyLedger } from '../db/ledger-verification';
import { createDb } from '../db/client';
import { testConfig, testEnv, token, uniqueId, waitFor } from '../test/support';

type Json = Record<string, any>;

describe('cancel and refunds', () => {
  let pg: Client;
  let writer: string;
  const api = () => testEnv().apiBaseUrl;
  const psp = () => testEnv().pspBaseUrl;
  const paymentIds: string[] = [];

  beforeAll(async () => {
    pg = new Client({ connectionString: testConfig().DATABASE_URL });
    await pg.connect();
    writer = await token({ scope: 'payments:write payments:read refunds:write balances:read' });
  });
  afterAll(async () => {
    // Whatever happened above, the ledger of these payments holds its invariants.
    const { db, pool } = createDb({ url: testConfig().DATABASE_URL, poolMax: 1, applicationName: 'refunds-test' });
    try {
      // Journaling follows moments after each final status; give it a bounded while.
      const failing = await waitFor('the ledger of these payments verified', async () => {
        const report = await verifyLedger(db, { graceMs: 0, paymentIds });
        return report.ok ? [] : undefined;
      }, 30_000, 500).catch(async () => (await verifyLedger(db, { graceMs: 0, paymentIds })).checks.filter((c) => c.violations > 0));
      expect(failing).toEqual([]);
    } finally {
      await pool.end();
      await pg.end();
    }
  });

  const call = async (method: string, path: string, payload?: unknown, options: { key?: string; auth?: string } = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${options.auth ?? writer}` };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST') headers['idempotency-key'] = options.key ?? uniqueId('key');
    const res = await fetch(`${api()}${path}`, { method, headers, ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : undefined) as Json };
  };
  const checkout = async (token = 'tok_visa', amounts = [1_000, 2_000]) => {
    const sellers = amounts.map(() => uniqueId('rseller'));
    const res = await call('POST', '/api/v1/payments', {
      buyerId: 'b',
      orderId: uniqueId('order'),
      totalAmount: { quantity: amounts.reduce((a, b) => a + b, 0), currency: 'EUR' },
      paymentOrders: amounts.map((quantity, i) => ({ sellerId: sellers[i], amount: { quantity, currency: 'EUR' } })),
      paymentMethod: { token },
    });
    expect(res.status).toBe(202);
    paymentIds.push(res.json.paymentId);
    return { paymentId: res.json.paymentId as string, orders: res.json.paymentOrders as Array<{ paymentOrderId: string; sellerId: string }> };
  };
  const payment = async (paymentId: string) => (await call('GET', `/api/v1/payments/${paymentId}`)).json;
  const until = (paymentId: string, what: string, ok: (p: Json) => boolean, timeoutMs = 30_000) => waitFor(what, async () => { const p = await payment(paymentId); return ok(p) ? p : undefined; }, timeoutMs, 200);
  const captured = (paymentId: string) => until(paymentId, 'every order captured', (p) => p.paymentOrders.every((o: Json) => o.status === 'CAPTURED'));
  const refund = (paymentId: string, paymentOrderId: string, quantity: number, options: { key?: string; auth?: string; currency?: string } = {}) =>
    call('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId, amount: { quantity, currency: options.currency ?? 'EUR' } }, options);
  const refundFinal = (refundId: string) => waitFor(`refund ${refundId} final`, async () => { const r = await call('GET', `/api/v1/refunds/${refundId}`); return r.json.status !== 'REFUND_REQUESTED' ? r.json : undefined; }, 60_000, 200);
  const pspLog = async (what: 'refunds' | 'voids' | 'captures', reference: string) => ((await (await fetch(`${psp()}/v1/${what}/log?reference=${reference}`)).json()) as Record<string, unknown[]>)[what]!;
  const postingsOf = async (account: string) => BigInt((await pg.query<{ s: string }>(`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as s from postings where account_code = $1`, [account])).rows[0]!.s);
  const commissionReversed = async (paymentOrderId: string) => BigInt((await pg.query<{ s: string }>(`select coalesce(sum(p.amount_minor), 0)::text as s from postings p join journal_entries je on je.id = p.journal_entry_id where je.payment_order_id = $1 and je.entry_type = 'REFUND' and p.account_code = 'PLATFORM_COMMISSION_REVENUE'`, [paymentOrderId])).rows[0]!.s);
  const balance = async (sellerId: string) => {
    const res = await call('GET', `/api/v1/sellers/${encodeURIComponent(sellerId)}/balance`);
    return BigInt(res.json.balances.find((b: Json) => b.balance.currency === 'EUR')?.balance.quantity ?? 0);
  };
  /** Once every final order and refund of the payment is journaled, the balance API equals the postings. */
  const balanceSettles = async (sellerId: string, paymentId: string) => {
    await waitFor(`the entries of ${paymentId}`, async () => {
      const { rows } = await pg.query<{ missing: number }>(`
        select (select count(*) from refunds r where r.payment_id = $1 and r.status = 'REFUNDED' and not exists (select 1 from journal_entries je where je.id = 'REFUND:' || r.id::text))
             + (select count(*) from payment_orders po where po.payment_id = $1 and po.status = 'CAPTURED' and not exists (select 1 from journal_entries je where je.id = 'CAPTURE:' || po.id::text)) as missing`, [paymentId]);
      return Number(rows[0]!.missing) === 0;
    }, 30_000, 200);
    return waitFor(`the balance of ${sellerId} equal to its postings`, async () => {
      const expected = await postingsOf(`MERCHANT_PAYABLE.${sellerId}`);
      return (await balance(sellerId)) === expected ? expected : undefined;
    }, 30_000, 250);
  };

  test('a full refund: REFUNDED at the PSP once, the payment REFUNDED, the whole commission reversed, the balance back to 0', async () => {
    const { paymentId, orders } = await checkout('tok_visa', [10_000]);
    await captured(paymentId);
    const res = await refund(paymentId, orders[0]!.paymentOrderId, 10_000);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/v1/refunds/${res.json.refundId}`);
    expect(res.json).toMatchObject({ paymentId, paymentOrderId: orders[0]!.paymentOrderId, sellerId: orders[0]!.sellerId, amount: { quantity: 10_000, currency: 'EUR' }, status: 'REFUND_REQUESTED' });
    expect(await refundFinal(res.json.refundId)).toMatchObject({ status: 'REFUNDED', pspRefundId: expect.stringMatching(/^re_/) });
    expect(await pspLog('refunds', res.json.refundId)).toHaveLength(1);
    const p = await until(paymentId, 'REFUNDED', (x) => x.status === 'REFUNDED');
    expect(p.paymentOrders[0]).toMatchObject({ refundedAmount: { quantity: 10_000 }, refundableAmount: { quantity: 0 } });
    await waitFor('the REFUND entry', async () => (await commissionReversed(orders[0]!.paymentOrderId)) === 250n);
    expect(await balanceSettles(orders[0]!.sellerId, paymentId)).toBe(0n);
  });

  test('two partial refunds, then one too many: PARTIALLY_REFUNDED, REFUNDED, 422 with what is refundable; commission reversed exactly once in total', async () => {
    const { paymentId, orders } = await checkout('tok_visa', [999]);
    await captured(paymentId);
    const order = orders[0]!.paymentOrderId;
    const first = await refund(paymentId, order, 333);
    await refundFinal(first.json.refundId);
    expect((await until(paymentId, 'PARTIALLY_REFUNDED', (x) => x.status === 'PARTIALLY_REFUNDED')).paymentOrders[0].refundableAmount).toEqual({ quantity: 666, currency: 'EUR' });
    const over = await refund(paymentId, order, 667);
    expect(over.status).toBe(422);
    expect(over.json).toMatchObject({ type: expect.stringMatching(/refund-exceeds-captured$/), refundableAmount: { quantity: 666, currency: 'EUR' } });
    const second = await refund(paymentId, order, 666);
    await refundFinal(second.json.refundId);
    await until(paymentId, 'REFUNDED', (x) => x.status === 'REFUNDED');
    // 999 at 2.5 %: commission 24; 333 then 666 reverse floor(24·333/999) = 8, then 24 - 8 = 16.
    await waitFor('both REFUND entries', async () => (await commissionReversed(order)) === 24n);
    expect(await balanceSettles(orders[0]!.sellerId, paymentId)).toBe(0n);
  });

  test('20 concurrent refunds of 10 % each with distinct keys: exactly 10 accepted; the database refuses the rest', async () => {
    const { paymentId, orders } = await checkout('tok_visa', [1_000]);
    await captured(paymentId);
    const results = await Promise.all(Array.from({ length: 20 }, () => refund(paymentId, orders[0]!.paymentOrderId, 100)));
    expect(results.filter((r) => r.status === 202)).toHaveLength(10);
    expect(results.filter((r) => r.status === 422)).toHaveLength(10);
    for (const r of results.filter((x) => x.status === 202)) await refundFinal(r.json.refundId);
    await until(paymentId, 'REFUNDED', (x) => x.status === 'REFUNDED');
    const reserved = await pg.query('select refund_reserved_minor::text as r, refunded_minor::text as d from payment_orders where id = $1', [orders[0]!.paymentOrderId]);
    expect(reserved.rows[0]).toEqual({ r: '1000', d: '1000' });
    expect(await balanceSettles(orders[0]!.sellerId, paymentId)).toBe(0n);
  });

  test('tok_refund_fail: REFUND_FAILED, nothing refunded at the PSP, no entry, the amount refundable again', async () => {
    const { paymentId, orders } = await checkout('tok_refund_fail', [1_000]);
    await captured(paymentId);
    const res = await refund(paymentId, orders[0]!.paymentOrderId, 400);
    expect(await refundFinal(res.json.refundId)).toMatchObject({ status: 'REFUND_FAILED', lastPspError: expect.stringMatching(/^REFUND_REJECTED/) });
    expect(await pspLog('refunds', res.json.refundId)).toHaveLength(0);
    const p = await payment(paymentId);
    expect(p).toMatchObject({ status: 'CAPTURED' });
    expect(p.paymentOrders[0].refundableAmount).toEqual({ quantity: 1_000, currency: 'EUR' });
    expect((await pg.query('select count(*)::int as n from journal_entries where refund_id = $1', [res.json.refundId])).rows[0].n).toBe(0);
  });

  test('a refund whose PSP reply times out after the PSP refunded: resolved by lookup, REFUNDED, exactly one refund in the PSP log', async () => {
    const { paymentId, orders } = await checkout('tok_refund_timeout_1', [1_000]);
    await captured(paymentId);
    const res = await refund(paymentId, orders[0]!.paymentOrderId, 1_000);
    expect(await refundFinal(res.json.refundId)).toMatchObject({ status: 'REFUNDED' });
    expect(await pspLog('refunds', res.json.refundId)).toHaveLength(1);
  }, 60_000);

  test('an order captured before capture ids were stored: the id is found at the PSP, the refund goes through', async () => {
    const { paymentId, orders } = await checkout('tok_visa', [1_500]);
    await captured(paymentId);
    const orderId = orders[0]!.paymentOrderId;
    const { rows } = await pg.query<{ id: string }>('update payment_orders set psp_capture_id = null where id = $1 returning (select psp_capture_id from payment_orders where id = $1) as id', [orderId]);
    const original = rows[0]!.id;
    const res = await refund(paymentId, orderId, 500);
    expect(res.status).toBe(202);
    expect(await refundFinal(res.json.refundId)).toMatchObject({ status: 'REFUNDED' });
    expect((await pg.query<{ id: string }>('select psp_capture_id as id from payment_orders where id = $1', [orderId])).rows[0]!.id).toBe(original);
    expect(await pspLog('refunds', res.json.refundId)).toHaveLength(1);
  }, 60_000);

  test('cancel before capture: every order VOIDED at the PSP, AUTH_RELEASE posted, nothing captured', async () => {
    const { paymentId, orders } = await checkout('tok_capture_retry_1000');
    await until(paymentId, 'retrying', (p) => p.paymentOrders.every((o: Json) => o.status === 'PENDING_CAPTURE'));
    const res = await call('POST', `/api/v1/payments/${paymentId}/cancel`);
    expect(res.status).toBe(202);
    expect(res.json.cancellation).toEqual({ voided: expect.arrayContaining(orders.map((o) => o.paymentOrderId)), captured: [], failed: [], pending: [] });
    expect(res.json.status).toBe('VOIDED');
    for (const o of orders) {
      expect(await pspLog('voids', o.paymentOrderId)).toHaveLength(1);
      expect(await pspLog('captures', o.paymentOrderId)).toHaveLength(0);
    }
    await waitFor('AUTH_RELEASE entries', async () => (await pg.query(`select count(*)::int as n from journal_entries where payment_id = $1 and entry_type = 'AUTH_RELEASE'`, [paymentId])).rows[0].n === 2);
    // Nothing left to cancel now; the same key replays the first answer.
    expect((await call('POST', `/api/v1/payments/${paymentId}/cancel`)).status).toBe(409);
  });

  test('cancel racing a capture the PSP already made: the PSP decides, the order is CAPTURED and the answer says so', async () => {
    // The capture is recorded at the PSP and its reply hangs: the cancel arrives while it is in flight.
    const { paymentId, orders } = await checkout('tok_capture_timeout_1', [1_000]);
    await waitFor('the capture at the PSP', async () => (await pspLog('captures', orders[0]!.paymentOrderId)).length === 1, 10_000, 50);
    const res = await call('POST', `/api/v1/payments/${paymentId}/cancel`);
    expect(res.status).toBe(202);
    const final = await captured(paymentId);
    expect(final.paymentOrders[0].status).toBe('CAPTURED');
    expect(res.json.cancellation.voided).toEqual([]);
    expect(await pspLog('captures', orders[0]!.paymentOrderId)).toHaveLength(1);
    expect(await pspLog('voids', orders[0]!.paymentOrderId)).toHaveLength(0);
  }, 60_000);

  test('bad input changes nothing: not captured 409, currency 400, unknown or foreign order 404, key reused 422, replay, scopes and ownership', async () => {
    const pending = await checkout('tok_capture_retry_1000', [1_000]);
    expect((await refund(pending.paymentId, pending.orders[0]!.paymentOrderId, 100)).status).toBe(409);
    await call('POST', `/api/v1/payments/${pending.paymentId}/cancel`);

    const { paymentId, orders } = await checkout('tok_visa', [1_000, 500]);
    const other = await checkout('tok_visa', [700]);
    await captured(paymentId);
    await captured(other.paymentId);
    const order = orders[0]!.paymentOrderId;
    const currency = await refund(paymentId, order, 100, { currency: 'USD' });
    expect([currency.status, currency.json.errors]).toEqual([400, [{ pointer: '/amount/currency', detail: expect.stringMatching(/EUR/) }]]);
    expect((await refund(paymentId, '00000000-0000-4000-8000-000000000000', 100)).status).toBe(404);
    expect((await refund(paymentId, other.orders[0]!.paymentOrderId, 100)).status).toBe(404);
    expect((await refund('00000000-0000-4000-8000-000000000000', order, 100)).status).toBe(404);
    for (const bad of [0, -5, 1.5, '100']) {
      const r = await call('POST', `/api/v1/payments/${paymentId}/refunds`, { paymentOrderId: order, amount: { quantity: bad, currency: 'EUR' } });
      expect([bad, r.status]).toEqual([bad, 400]);
    }
    expect((await pg.query('select count(*)::int as n from refunds where payment_order_id = $1', [order])).rows[0].n).toBe(0);

    const key = uniqueId('refund-key');
    const first = await refund(paymentId, order, 100, { key });
    const again = await refund(paymentId, order, 100, { key });
    expect([again.status, again.headers.get('idempotent-replayed'), again.json.refundId]).toEqual([202, 'true', first.json.refundId]);
    expect((await refund(paymentId, order, 200, { key })).status).toBe(422);

    // Scope: refunds need refunds:write. Reads: a seller sees its own refunds only.
    expect((await refund(paymentId, order, 100, { auth: await token({ scope: 'payments:write payments:read' }) })).status).toBe(403);
    const own = await token({ scope: '', sellerId: orders[0]!.sellerId, sub: `seller:${orders[0]!.sellerId}` });
    const stranger = await token({ scope: '', sellerId: orders[1]!.sellerId, sub: `seller:${orders[1]!.sellerId}` });
    expect((await call('GET', `/api/v1/refunds/${first.json.refundId}`, undefined, { auth: own })).status).toBe(200);
    const probe = await call('GET', `/api/v1/refunds/${first.json.refundId}`, undefined, { auth: stranger });
    const unknown = await call('GET', '/api/v1/refunds/00000000-0000-4000-8000-000000000000', undefined, { auth: stranger });
    expect([probe.status, probe.json.title]).toEqual([unknown.status, unknown.json.title]);
    expect(probe.status).toBe(404);
    await refundFinal(first.json.refundId);
  }, 60_000);
});
