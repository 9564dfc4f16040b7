/**
 * The ledger end to end on the real stack: multi-seller checkouts through the API end with a
 * ledger whose invariants hold, and every journal entry reaches Kafka (exactly once after
 * deduplication by entry id). The verify command itself is shown to catch violations.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { createDb } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { createMigratedDatabase, dropDatabase } from './databases';
import { collectLedgerEvents } from './fixtures';
import { ROOT, stackEnv, testConfig, testEnv, token, uniqueId, waitFor } from './support';

const run = promisify(execFile);

describe('ledger flow', () => {
  test('N multi-seller checkouts: verify passes and Kafka carries every entry', async () => {
    const config = testConfig();
    const collector = await collectLedgerEvents(config.KAFKA_BROKERS, config.LEDGER_TOPIC);
    const pg = new Client({ connectionString: config.DATABASE_URL });
    await pg.connect();
    try {
      const jwt = await token();
      const sellers = Array.from({ length: 4 }, () => uniqueId('seller'));
      const tokens = ['tok_visa', 'tok_visa', 'tok_capture_fail', 'tok_capture_retry_1', 'tok_chargeDeclined', 'tok_visa'];
      const paymentIds: string[] = [];
      for (const [i, cardToken] of tokens.entries()) {
        const orders = sellers.slice(0, 2 + (i % 3)).map((sellerId, j) => ({ sellerId, amount: { quantity: 1000 + 7 * i + j, currency: 'EUR' } }));
        const total = orders.reduce((s, o) => s + o.amount.quantity, 0);
        const res = await fetch(`${testEnv().apiBaseUrl}/api/v1/payments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
          body: JSON.stringify({ buyerId: 'b', orderId: uniqueId('o'), totalAmount: { quantity: total, currency: 'EUR' }, paymentOrders: orders, paymentMethod: { token: cardToken } }),
        });
        expect([202, 402]).toContain(res.status);
        paymentIds.push(((await res.json()) as { paymentId: string }).paymentId);
      }
      await waitFor('every payment final', async () => {
        const r = await pg.query<{ n: number }>(`select count(*)::int as n from payments where id = any($1) and status not in ('AUTHORIZED')`, [paymentIds]);
        return r.rows[0]!.n === paymentIds.length;
      }, 60_000, 200);
      const expected = await waitFor('every entry committed', async () => {
        const entries = (await pg.query<{ id: string }>(`select id from journal_entries where payment_id = any($1)`, [paymentIds])).rows.map((r) => r.id);
        const orders = (await pg.query<{ n: number }>(`select count(*)::int as n from payment_orders po join payments p on p.id = po.payment_id where p.id = any($1) and p.status <> 'DECLINED'`, [paymentIds])).rows[0]!.n;
        return entries.length === orders * 2 ? entries : undefined;
      }, 30_000, 200);

      const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'verify-test' });
      try {
        const report = await verifyLedger(db, { graceMs: 0, paymentIds });
        expect(report.checks.filter((c) => c.violations > 0)).toEqual([]);
      } finally {
        await pool.end();
      }

      const seen = await waitFor('every entry on Kafka', async () => {
        const ids = collector.events.flatMap((e) => e.data.entries.map((x) => x.journalEntryId)).filter((id) => expected.includes(id));
        return expected.every((id) => ids.includes(id)) ? ids : undefined;
      }, 30_000);
      expect(new Set(seen).size).toBe(expected.length);
      // Every posting in the events matches the database, amount for amount.
      const fromEvents = collector.events.flatMap((e) => e.data.entries).filter((x) => expected.includes(x.journalEntryId));
      const dbPostings = (await pg.query<{ journal_entry_id: string; account_code: string; direction: string; amount_minor: string }>(
        `select journal_entry_id, account_code, direction, amount_minor::text from postings where journal_entry_id = any($1)`,
        [expected],
      )).rows;
      const key = (p: { journalEntryId: string; accountCode: string; direction: string; amountMinor: string }) => `${p.journalEntryId}|${p.accountCode}|${p.direction}|${p.amountMinor}`;
      const eventSet = new Set(fromEvents.flatMap((x) => x.postings.map((p) => key({ ...p, journalEntryId: x.journalEntryId }))));
      const dbSet = new Set(dbPostings.map((p) => key({ journalEntryId: p.journal_entry_id, accountCode: p.account_code, direction: p.direction, amountMinor: p.amount_minor })));
      expect(eventSet).toEqual(dbSet);
    } finally {
      await collector.stop();
      await pg.end();
    }
  });

  test('the verify command exits 0 on a sound ledger and 1 on a violation, naming it', async () => {
    const adminUrl = stackEnv().DATABASE_URL!;
    const name = `payorch_verify_${Date.now().toString(36)}`;
    const url = await createMigratedDatabase(adminUrl, name);
    const env = { ...process.env, ...testEnv().env, DATABASE_URL: url, PAYORCH_ENV_FILE: '/dev/null' };
    try {
      const ok = await run(process.execPath, ['--import', 'tsx', 'scripts/ledger-verify.ts', '--grace-ms', '0'], { cwd: ROOT, env });
      expect(ok.stdout).toMatch(/all invariants hold/);

      // A CAPTURED order without its CAPTURE entry (as if the ledger lost it).
      const pg = new Client({ connectionString: url });
      await pg.connect();
      const paymentId = randomUUID();
      const orderId = randomUUID();
      await pg.query(`insert into payments (id, buyer_id, order_id, total_amount_minor, currency, status) values ($1, 'b', 'o', 100, 'EUR', 'CAPTURED')`, [paymentId]);
      await pg.query(`insert into payment_orders (id, payment_id, position, seller_id, amount_minor, currency, status) values ($1, $2, 0, 's', 100, 'EUR', 'CAPTURED')`, [orderId, paymentId]);
      await pg.query('begin');
      await pg.query(`insert into journal_entries (id, entry_type, payment_order_id, payment_id, seller_id, batch_id) values ($1, 'AUTH_HOLD', $2, $3, 's', 'b1')`, [`AUTH_HOLD:${orderId}`, orderId, paymentId]);
      await pg.query(`insert into postings (journal_entry_id, account_code, direction, amount_minor, currency) values ($1, 'AUTH_RECEIVABLE', 'DEBIT', 100, 'EUR'), ($1, 'AUTH_LIABILITY', 'CREDIT', 100, 'EUR')`, [`AUTH_HOLD:${orderId}`]);
      await pg.query('commit');
      // The database itself refuses to edit or unbalance the ledger.
      await expect(pg.query(`update postings set amount_minor = 1`)).rejects.toThrow(/append-only/);
      await expect(pg.query(`delete from journal_entries`)).rejects.toThrow(/append-only/);
      await pg.query('begin');
      await pg.query(`insert into journal_entries (id, entry_type, payment_order_id, payment_id, seller_id, batch_id) values ($1, 'CAPTURE', $2, $3, 's', 'b2')`, [`CAPTURE:${orderId}`, orderId, paymentId]);
      await pg.query(`insert into postings (journal_entry_id, account_code, direction, amount_minor, currency) values ($1, 'PSP_RECEIVABLES', 'DEBIT', 100, 'EUR'), ($1, 'MERCHANT_PAYABLE.s', 'CREDIT', 99, 'EUR')`, [`CAPTURE:${orderId}`]);
      await expect(pg.query('commit')).rejects.toThrow(/does not balance/);
      await pg.end();

      const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/ledger-verify.ts', '--grace-ms', '0'], { cwd: ROOT, env }).then(
        () => undefined,
        (err: { code: number; stdout: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toMatch(/FAIL every CAPTURED order has 1 AUTH_HOLD, 1 CAPTURE and 0 AUTH_RELEASE entries/);
      expect(failed?.stdout).toContain(orderId);
    } finally {
      await dropDatabase(adminUrl, name);
    }
  });
});
