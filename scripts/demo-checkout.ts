/**
 * The demo: one multi-seller checkout through the running API, followed until every seller leg is
 * final; then a partial refund of the first seller's order (unless --no-refund), followed until it
 * is final; then the payment's final state, its ledger entries and the sellers' balances.
 *
 *   node --import tsx scripts/demo-checkout.ts [--token tok_visa] [--timeout-ms 60000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { loadConfigOrExit } from '../config/config';
import { signDevToken } from './dev-token';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { token: { type: 'string', default: 'tok_visa' }, 'timeout-ms': { type: 'string', default: '60000' }, 'no-refund': { type: 'boolean', default: false } } });
  const config = loadConfigOrExit();
  const jwt = await signDevToken({ secret: config.AUTH_DEV_SECRET!, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, subject: 'demo-client', scope: 'payments:write payments:read refunds:write', ttlSeconds: 600 });
  const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
  const balanceJwt = await signDevToken({ secret: config.AUTH_DEV_SECRET!, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, subject: 'demo-operator', scope: 'balances:read', ttlSeconds: 600 });
  const body = {
    buyerId: 'buyer-demo',
    orderId: `order-${randomUUID().slice(0, 8)}`,
    totalAmount: { quantity: 12_345, currency: 'EUR' },
    paymentOrders: [
      { sellerId: 'seller-books', amount: { quantity: 2_345, currency: 'EUR' } },
      { sellerId: 'seller-games', amount: { quantity: 4_000, currency: 'EUR' } },
      { sellerId: 'seller-music', amount: { quantity: 6_000, currency: 'EUR' } },
    ],
    paymentMethod: { token: values.token },
  };
  const started = Date.now();
  const res = await fetch(`${config.API_BASE_URL}/api/v1/payments`, { method: 'POST', headers: { ...headers, 'idempotency-key': randomUUID() }, body: JSON.stringify(body) });
  const accepted = (await res.json()) as { paymentId: string; status: string };
  console.log(`POST /api/v1/payments -> ${res.status} in ${Date.now() - started} ms (payment ${accepted.paymentId}, ${accepted.status})`);
  if (res.status !== 202) {
    console.log(JSON.stringify(accepted, null, 2));
    process.exit(res.status === 402 ? 0 : 1);
  }

  const deadline = Date.now() + Number(values['timeout-ms']);
  let payment: { status: string; paymentOrders: Array<{ paymentOrderId: string; sellerId: string; status: string; captureAttempts: number }> } | undefined;
  let last = '';
  for (;;) {
    const r = await fetch(`${config.API_BASE_URL}/api/v1/payments/${accepted.paymentId}`, { headers });
    payment = (await r.json()) as typeof payment;
    const line = payment!.paymentOrders.map((o) => `${o.sellerId}=${o.status}(${o.captureAttempts})`).join(' ');
    if (line !== last) console.log(`  +${Date.now() - started} ms ${payment!.status}: ${line}`);
    last = line;
    if (payment!.status !== 'AUTHORIZED') break;
    if (Date.now() > deadline) {
      console.error(`demo: payment ${accepted.paymentId} still AUTHORIZED after ${values['timeout-ms']} ms; see scripts/stack logs worker`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Money back: refund 1,000 of the first seller's order, if it was captured.
  const refunded = payment!.paymentOrders[0]!;
  let refundEntries = 0;
  if (!values['no-refund'] && refunded.status === 'CAPTURED') {
    const refundStarted = Date.now();
    const r = await fetch(`${config.API_BASE_URL}/api/v1/payments/${accepted.paymentId}/refunds`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: JSON.stringify({ paymentOrderId: refunded.paymentOrderId, amount: { quantity: 1_000, currency: 'EUR' }, reason: 'demo: one item returned' }),
    });
    const refund = (await r.json()) as { refundId: string; status: string };
    console.log(`POST /api/v1/payments/{id}/refunds (1000 EUR of ${refunded.sellerId}) -> ${r.status} (refund ${refund.refundId}, ${refund.status})`);
    for (let status = refund.status; status === 'REFUND_REQUESTED'; ) {
      if (Date.now() > deadline) throw new Error(`refund ${refund.refundId} still REFUND_REQUESTED; see scripts/stack logs worker`);
      await new Promise((res) => setTimeout(res, 200));
      status = ((await (await fetch(`${config.API_BASE_URL}/api/v1/refunds/${refund.refundId}`, { headers })).json()) as { status: string }).status;
      if (status !== 'REFUND_REQUESTED') console.log(`  +${Date.now() - refundStarted} ms refund ${status}`);
    }
    refundEntries = 1;
    payment = (await (await fetch(`${config.API_BASE_URL}/api/v1/payments/${accepted.paymentId}`, { headers })).json()) as typeof payment;
  }
  console.log('Final state (GET /api/v1/payments/{id}):');
  console.log(JSON.stringify(payment, null, 2));

  // The ledger is written in batches shortly after the capture; give it a moment.
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 1 });
  const ledgerDeadline = Date.now() + 10_000;
  let rows: Array<{ id: string; postings: string }> = [];
  while (Date.now() < ledgerDeadline) {
    rows = (await pool.query<{ id: string; postings: string }>(
      `select je.id, string_agg(p.direction || ' ' || p.account_code || ' ' || p.amount_minor || ' ' || p.currency, '; ' order by p.id) as postings
         from journal_entries je join postings p on p.journal_entry_id = je.id where je.payment_id = $1 group by je.id order by je.id`,
      [accepted.paymentId],
    )).rows;
    if (rows.length >= payment!.paymentOrders.length * 2 + refundEntries) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await pool.end();
  console.log(`Ledger: ${rows.length} journal entries for this payment`);
  for (const r of rows) console.log(`  ${r.id}: ${r.postings}`);

  // The balances the sellers see, once the aggregator has applied the ledger events.
  console.log('Seller balances (GET /api/v1/sellers/{sellerId}/balance):');
  for (const order of payment!.paymentOrders) {
    const deadline = Date.now() + 10_000;
    let line = '';
    for (;;) {
      const r = await fetch(`${config.API_BASE_URL}/api/v1/sellers/${order.sellerId}/balance`, { headers: { authorization: `Bearer ${balanceJwt}` } });
      const body = (await r.json()) as { balances: Array<{ accountCode: string; balance: { quantity: number; currency: string }; lastAppliedEntryId: string }> };
      const b = body.balances[0];
      line = b ? `${b.accountCode} = ${b.balance.quantity} ${b.balance.currency} (last entry ${b.lastAppliedEntryId})` : '(no entries yet)';
      const expected = order === refunded && refundEntries > 0 ? 'REFUND:' : 'CAPTURE:';
      if (b?.lastAppliedEntryId.startsWith(expected) || Date.now() > deadline || order.status !== 'CAPTURED') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`  ${order.sellerId}: ${line}`);
  }
}

main().catch((err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
