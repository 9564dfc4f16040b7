/**
 * Re-derives what the ledger is missing from Postgres's own records, idempotently. Dry run by
 * default: it prints what it would do; `--apply` does it.
 *
 *   npm run -s ledger:repair -- [--apply] [--grace-ms 60000] [--json]
 *
 * What it repairs:
 *  1. Orders whose status implies a ledger fact that exists neither as a fact nor as an entry
 *     (an order made final by a version that kept facts only in workflow state, which then lost
 *     them): the fact is derived from the order row (amount, seller, commission fixed at checkout).
 *  2. Facts marked journaled whose entry is missing: marked pending again.
 *  3. Journal entries whose batch has no sequence number (written by a worker of the previous
 *     version during a rolling deploy): the batch is recorded with the stream's next sequence.
 *  4. Then every stream with pending facts or unpublished batches is journaled and published,
 *     through the same code as the ledger workflow (a running workflow and this command serialise
 *     on the stream's lock).
 * Every step is idempotent: running it twice does nothing the second time.
 */
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { createLedgerActivities } from '../activities/ledger.activities';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { insertLedgerFacts, streamsNeedingWork } from '../db/ledger-facts';
import { createKafka, createLazyProducer } from '../kafka/client';
import type { EntryType } from '../ledger/journal';
import type { LedgerFactPayload } from '../workflows/contracts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { apply: { type: 'boolean', default: false }, 'grace-ms': { type: 'string', default: '60000' }, json: { type: 'boolean', default: false } } });
  const graceMs = Number(values['grace-ms']);
  if (!Number.isInteger(graceMs) || graceMs < 0) {
    process.stderr.write('ledger-repair: --grace-ms must be a non-negative whole number\n');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'ledger-repair' });
  const producer = createLazyProducer(createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-ledger-repair` }));
  const settled = sql`make_interval(secs => ${graceMs / 1000})`;
  const report: Record<string, unknown> = { applied: values.apply };
  try {
    // 1. Facts that should exist and do not.
    const missing = await db.execute<{ payment_order_id: string; payment_id: string; seller_id: string; amount_minor: string; currency: string; commission_bps: number; entry_type: EntryType; psp_capture_id: string | null }>(sql`
      select po.id as payment_order_id, po.payment_id, po.seller_id, po.amount_minor::text, po.currency, po.commission_bps, t.entry_type, po.psp_capture_id
        from payment_orders po
        cross join lateral (values ('AUTH_HOLD'), ('CAPTURE'), ('AUTH_RELEASE')) as t(entry_type)
       where ((t.entry_type = 'AUTH_HOLD' and po.status in ('PENDING_CAPTURE', 'CAPTURED', 'CAPTURE_FAILED', 'VOIDED'))
           or (t.entry_type = 'CAPTURE' and po.status = 'CAPTURED')
           or (t.entry_type = 'AUTH_RELEASE' and po.status in ('CAPTURE_FAILED', 'VOIDED')))
         and po.updated_at < now() - ${settled}
         and not exists (select 1 from journal_entries je where je.id = t.entry_type || ':' || po.id::text)
         and not exists (select 1 from ledger_facts f where f.id = t.entry_type || ':' || po.id::text)
       order by po.updated_at`);
    const facts: LedgerFactPayload[] = missing.rows.map((r) => ({
      entryType: r.entry_type,
      paymentOrderId: r.payment_order_id,
      paymentId: r.payment_id,
      sellerId: r.seller_id,
      amountMinor: r.amount_minor,
      currency: r.currency,
      commissionBps: r.commission_bps,
      ...(r.entry_type === 'CAPTURE' && r.psp_capture_id ? { metadata: { pspCaptureId: r.psp_capture_id } } : {}),
    }));
    report.factsDerived = facts.length;
    report.factsDerivedExamples = facts.slice(0, 10).map((f) => `${f.entryType}:${f.paymentOrderId} (${f.sellerId}, ${f.amountMinor} ${f.currency})`);

    // 2. Facts marked journaled without their entry.
    const lost = await db.execute<{ id: string }>(sql`
      select f.id from ledger_facts f left join journal_entries je on je.id = f.id where f.journaled_at is not null and je.id is null`);
    report.factsReopened = lost.rows.length;

    // 3. Entries whose batch has no sequence number.
    const unsequenced = await db.execute<{ batch_id: string; seller_id: string; entries: number; first_posting: string }>(sql`
      select je.batch_id, je.seller_id, count(distinct je.id)::int as entries, min(p.id)::text as first_posting
        from journal_entries je join postings p on p.journal_entry_id = je.id
        left join ledger_batches b on b.id = je.batch_id
       where b.id is null
       group by je.batch_id, je.seller_id
       order by min(p.id)`);
    report.batchesSequenced = unsequenced.rows.length;

    if (values.apply) {
      if (facts.length > 0) await insertLedgerFacts(db, facts);
      if (lost.rows.length > 0) await db.execute(sql`update ledger_facts set journaled_at = null where id = any(string_to_array(${lost.rows.map((r) => r.id).join('\u001f')}, ${'\u001f'}))`);
      for (const b of unsequenced.rows) {
        await db.transaction(async (tx) => {
          await tx.execute(sql`insert into ledger_streams (stream_id) values (${b.seller_id}) on conflict do nothing`);
          const head = await tx.execute<{ last_seq: string }>(sql`select last_seq::text from ledger_streams where stream_id = ${b.seller_id} for update`);
          const seq = BigInt(head.rows[0]!.last_seq) + 1n;
          const inserted = await tx.execute(sql`insert into ledger_batches (id, stream_id, seq, entry_count) values (${b.batch_id}, ${b.seller_id}, ${seq.toString()}::bigint, ${b.entries}) on conflict do nothing returning id`);
          if (inserted.rows.length > 0) await tx.execute(sql`update ledger_streams set last_seq = ${seq.toString()}::bigint, updated_at = now() where stream_id = ${b.seller_id}`);
        });
      }
    }

    // 4. Journal and publish whatever waits, stream by stream.
    const streams = await streamsNeedingWork(db, { minAgeMs: 0, limit: 100_000 });
    report.streamsWithWork = streams.length;
    if (values.apply) {
      const ledger = createLedgerActivities({ db, producer, topic: config.LEDGER_TOPIC, publishTimeoutMs: config.LEDGER_PUBLISH_TIMEOUT_MS });
      let entries = 0;
      const unpublished: string[] = [];
      for (const streamId of streams) {
        for (let more = true; more; ) {
          const journaled = await ledger.journalPending(streamId, config.LEDGER_BATCH_MAX_ITEMS);
          entries += journaled.entries;
          more = journaled.moreFacts;
        }
        try {
          for (let pending = true; pending; ) {
            const published = await ledger.publishPending(streamId);
            pending = published.unpublished && !published.busy;
          }
        } catch (err) {
          unpublished.push(`${streamId}: ${(err as Error).message}`);
        }
      }
      report.entriesJournaled = entries;
      report.publishFailures = unpublished;
    }

    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const verb = values.apply ? 'repaired' : 'would repair (dry run; --apply to do it)';
      console.log(`ledger-repair: ${verb}:`);
      console.log(`  facts derived from final orders that had neither fact nor entry: ${facts.length}`);
      for (const example of report.factsDerivedExamples as string[]) console.log(`    ${example}`);
      console.log(`  facts marked journaled without their entry, reopened: ${lost.rows.length}`);
      console.log(`  batches of entries without a sequence number, sequenced: ${unsequenced.rows.length}`);
      console.log(`  streams with facts to journal or batches to publish: ${streams.length}`);
      if (values.apply) console.log(`  entries journaled now: ${String(report.entriesJournaled)}; streams whose publication failed: ${(report.publishFailures as string[]).length}`);
      for (const failure of (report.publishFailures as string[] | undefined) ?? []) console.log(`    ${failure}`);
    }
    if (values.apply && (report.publishFailures as string[]).length > 0) process.exitCode = 1;
  } finally {
    await producer.disconnect();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ledger-repair: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
