/**
 * Upgrading a database of the previous release, and repairing what that release could lose:
 * - migration 0004 gives every existing batch its place in its stream's sequence;
 * - `ledger:repair` derives the facts of final orders that have neither fact nor entry (the old
 *   ledger kept them only in workflow state), sequences entries written without a sequenced batch
 *   (an old worker during a rolling deploy), journals and publishes them - and, run again, does
 *   nothing.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { Client } from 'pg';
import { dropDatabase } from './databases';
import { ROOT, stackEnv, testEnv, uniqueId } from './support';

const run = promisify(execFile);

/** The migrations folder as the previous release shipped it (up to 0002). */
function previousReleaseMigrations(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-migrations-'));
  cpSync(path.join(ROOT, 'db/migrations'), dir, { recursive: true });
  const journalFile = path.join(dir, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: Array<{ idx: number }> };
  journal.entries = journal.entries.filter((e) => e.idx <= 2);
  writeFileSync(journalFile, JSON.stringify(journal));
  return dir;
}

describe('ledger upgrade and repair', () => {
  const name = `payorch_${testEnv().runId}_upgrade`;
  let url: string;
  let client: Client;

  beforeAll(async () => {
    const admin = new Client({ connectionString: stackEnv().DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    url = stackEnv().DATABASE_URL!.replace(/\/[^/]+$/, `/${name}`);
    client = new Client({ connectionString: url });
    await client.connect();
    await migrate(drizzle(client), { migrationsFolder: previousReleaseMigrations(), migrationsTable: '__drizzle_migrations', migrationsSchema: 'public' });
  });
  afterAll(async () => {
    await client.end();
    await dropDatabase(stackEnv().DATABASE_URL!, name);
  });

  /** A payment with one order in `status`, as the previous release recorded it. */
  async function order(sellerId: string, status: string, amount = 1_000): Promise<{ paymentId: string; orderId: string }> {
    const paymentId = randomUUID();
    const orderId = randomUUID();
    await client.query(`insert into payments (id, buyer_id, order_id, total_amount_minor, currency, status, psp_authorization_id, updated_at) values ($1, 'b', $2, $3, 'EUR', $4, 'auth_x', now() - interval '1 hour')`, [paymentId, uniqueId('o'), amount, status === 'CAPTURED' ? 'CAPTURED' : 'AUTHORIZED']);
    await client.query(`insert into payment_orders (id, payment_id, position, seller_id, amount_minor, currency, status, capture_attempts, updated_at) values ($1, $2, 0, $3, $4, 'EUR', $5, 1, now() - interval '1 hour')`, [orderId, paymentId, sellerId, amount, status]);
    return { paymentId, orderId };
  }
  /** An entry written by the old ledger: postings and a batch id of the form workflowId/runId/n. */
  async function oldEntry(type: 'AUTH_HOLD' | 'CAPTURE', o: { paymentId: string; orderId: string }, sellerId: string, batchId: string, amount = 1_000) {
    await client.query('begin');
    await client.query(`insert into journal_entries (id, entry_type, payment_order_id, payment_id, seller_id, batch_id) values ($1, $2, $3, $4, $5, $6)`, [`${type}:${o.orderId}`, type, o.orderId, o.paymentId, sellerId, batchId]);
    const lines = type === 'AUTH_HOLD' ? [['AUTH_RECEIVABLE', 'DEBIT'], ['AUTH_LIABILITY', 'CREDIT']] : [['AUTH_LIABILITY', 'DEBIT'], ['AUTH_RECEIVABLE', 'CREDIT'], ['PSP_RECEIVABLES', 'DEBIT'], [`MERCHANT_PAYABLE.${sellerId}`, 'CREDIT']];
    for (const [account, direction] of lines) await client.query(`insert into postings (journal_entry_id, account_code, direction, amount_minor, currency) values ($1, $2, $3, $4, 'EUR')`, [`${type}:${o.orderId}`, account, direction, amount]);
    await client.query('commit');
  }

  test('old batches get gapless sequences in commit order; repair re-derives lost facts and sequences stray entries, idempotently', async () => {
    const [a, b] = [uniqueId('seller-a'), uniqueId('seller-b')];
    const a1 = await order(a, 'CAPTURED');
    const a2 = await order(a, 'CAPTURED');
    const b1 = await order(b, 'CAPTURED');
    await oldEntry('AUTH_HOLD', a1, a, `seller-ledger:${a}/run1/0`);
    await oldEntry('CAPTURE', a1, a, `seller-ledger:${a}/run1/1`);
    await oldEntry('AUTH_HOLD', b1, b, `seller-ledger:${b}/run1/0`);
    await oldEntry('CAPTURE', b1, b, `seller-ledger:${b}/run1/0`);
    await oldEntry('AUTH_HOLD', a2, a, `seller-ledger:${a}/run2/0`);
    // a2 is CAPTURED but its CAPTURE fact was lost with the old ledger's state.

    await client.end();
    client = new Client({ connectionString: url });
    await client.connect();
    await migrate(drizzle(client), { migrationsFolder: path.join(ROOT, 'db/migrations'), migrationsTable: '__drizzle_migrations', migrationsSchema: 'public' });

    const batches = async (stream: string) => (await client.query<{ id: string; seq: string }>('select id, seq::text from ledger_batches where stream_id = $1 order by seq', [stream])).rows;
    expect(await batches(a)).toEqual([
      { id: `seller-ledger:${a}/run1/0`, seq: '1' },
      { id: `seller-ledger:${a}/run1/1`, seq: '2' },
      { id: `seller-ledger:${a}/run2/0`, seq: '3' },
    ]);
    expect(await batches(b)).toEqual([{ id: `seller-ledger:${b}/run1/0`, seq: '1' }]);

    // An old worker, still running during the deploy, writes one more entry the old way.
    const a3 = await order(a, 'PENDING_CAPTURE');
    await oldEntry('AUTH_HOLD', a3, a, `seller-ledger:${a}/run2/1`);

    const env = { ...process.env, ...testEnv().env, DATABASE_URL: url, PAYORCH_ENV_FILE: '/dev/null' };
    const repair = async (...args: string[]) => JSON.parse((await run('node', ['--import', 'tsx', 'scripts/ledger-repair.ts', '--json', '--grace-ms', '0', ...args], { cwd: ROOT, env, timeout: 60_000 })).stdout) as Record<string, unknown>;

    const dry = await repair();
    expect(dry).toMatchObject({ applied: false, factsDerived: 1, factsReopened: 0, batchesSequenced: 1 });
    expect(dry.factsDerivedExamples).toEqual([expect.stringMatching(new RegExp(`^CAPTURE:${a2.orderId}`))]);
    // A dry run changes nothing.
    expect(await batches(a)).toHaveLength(3);

    const applied = await repair('--apply');
    expect(applied).toMatchObject({ applied: true, factsDerived: 1, batchesSequenced: 1, entriesJournaled: 1, publishFailures: [] });
    expect((await batches(a)).map((x) => x.seq)).toEqual(['1', '2', '3', '4', '5']);
    const entry = await client.query('select id from journal_entries where id = $1', [`CAPTURE:${a2.orderId}`]);
    expect(entry.rows).toHaveLength(1);
    const unpublished = await client.query('select count(*)::int as n from ledger_batches where published_at is null');
    expect(unpublished.rows[0].n).toBe(0);

    // Again: nothing left to do.
    expect(await repair('--apply')).toMatchObject({ factsDerived: 0, factsReopened: 0, batchesSequenced: 0, streamsWithWork: 0, entriesJournaled: 0 });

    // And the verification agrees.
    const verify = await run('node', ['--import', 'tsx', 'scripts/ledger-verify.ts', '--grace-ms', '0'], { cwd: ROOT, env, timeout: 60_000 }).then((r) => r.stdout, (err: { stdout: string }) => err.stdout);
    expect(verify).toContain('ledger: all invariants hold');
  }, 120_000);
});
