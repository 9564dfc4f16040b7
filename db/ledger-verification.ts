/**
 * Checks the ledger's invariants against a live database. Each check is one SQL query that
 * returns offending rows (at most `sampleMax` are kept as examples) and how many there are.
 *
 * Orders that changed within the grace window are not judged by the order/entry rules: a
 * PaymentOrder's transition writes its ledger facts, and the seller's ledger journals them in
 * batches moments later. Likewise a fact is allowed the grace window to be journaled.
 */
import { sql, type SQL } from 'drizzle-orm';
import { uuidArray, type Database } from './client';

export type CheckResult = { name: string; violations: number; examples: Record<string, unknown>[] };
export type VerificationReport = { ok: boolean; checks: CheckResult[]; counts: { entries: number; postings: number; orders: number } };

/**
 * `paymentIds` restricts the per-order checks to those payments (the ledger-wide checks always
 * cover everything); a test sharing its database with others uses it.
 */
export async function verifyLedger(db: Database, options: { graceMs: number; sampleMax?: number; paymentIds?: string[] }): Promise<VerificationReport> {
  const sampleMax = options.sampleMax ?? 10;
  const scope = options.paymentIds ? sql`po.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`;
  const settled = sql`po.updated_at < now() - make_interval(secs => ${options.graceMs / 1000}) and ${scope}`;
  /** Orders in `status` (settled, in scope) whose entries are not exactly the expected ones. */
  const orderEntriesCheck = (status: string, want: { holds: number; captures: number; releases: number }): [string, SQL] => [
    `every ${status} order has ${want.holds} AUTH_HOLD, ${want.captures} CAPTURE and ${want.releases} AUTH_RELEASE entries`,
    sql`select po.id as payment_order_id,
               count(*) filter (where je.entry_type = 'AUTH_HOLD') as auth_holds,
               count(*) filter (where je.entry_type = 'CAPTURE') as captures,
               count(*) filter (where je.entry_type = 'AUTH_RELEASE') as releases
          from payment_orders po left join journal_entries je on je.payment_order_id = po.id
         where po.status = ${status} and ${settled}
         group by po.id
        having count(*) filter (where je.entry_type = 'AUTH_HOLD') <> ${want.holds}
            or count(*) filter (where je.entry_type = 'CAPTURE') <> ${want.captures}
            or count(*) filter (where je.entry_type = 'AUTH_RELEASE') <> ${want.releases}`,
  ];
  const checks: Array<[string, SQL]> = [
    [
      'every journal entry balances per currency',
      sql`select journal_entry_id, currency, sum(case direction when 'DEBIT' then amount_minor else -amount_minor end)::text as net
            from postings group by journal_entry_id, currency
           having sum(case direction when 'DEBIT' then amount_minor else -amount_minor end) <> 0`,
    ],
    [
      'total debits equal total credits (per currency)',
      sql`select currency, sum(amount_minor) filter (where direction = 'DEBIT')::text as debits, sum(amount_minor) filter (where direction = 'CREDIT')::text as credits
            from postings group by currency
           having sum(amount_minor) filter (where direction = 'DEBIT') is distinct from sum(amount_minor) filter (where direction = 'CREDIT')`,
    ],
    [
      'every journal entry has at least two postings',
      sql`select je.id from journal_entries je left join postings p on p.journal_entry_id = je.id group by je.id having count(p.id) < 2`,
    ],
    orderEntriesCheck('CAPTURED', { holds: 1, captures: 1, releases: 0 }),
    orderEntriesCheck('CAPTURE_FAILED', { holds: 1, captures: 0, releases: 1 }),
    orderEntriesCheck('VOIDED', { holds: 1, captures: 0, releases: 1 }),
    [
      'every REFUNDED refund has its REFUND entry, for its amount; no other refund has one',
      sql`select r.id as refund_id, r.status, je.id as entry_id from refunds r left join journal_entries je on je.id = 'REFUND:' || r.id::text
           where ((r.status = 'REFUNDED' and r.updated_at < now() - make_interval(secs => ${options.graceMs / 1000}) and (je.id is null
                   or (select sum(amount_minor) from postings p where p.journal_entry_id = je.id and p.direction = 'CREDIT') <> r.amount_minor))
              or (r.status <> 'REFUNDED' and je.id is not null))
             and ${options.paymentIds ? sql`r.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}`,
    ],
    [
      "every order's refunds stay within its capture, and its refunded total is the sum of its REFUNDED refunds",
      sql`select po.id as payment_order_id, po.amount_minor::text, po.refunded_minor::text, po.refund_reserved_minor::text,
                 coalesce(sum(r.amount_minor) filter (where r.status = 'REFUNDED'), 0)::text as refunded,
                 coalesce(sum(r.amount_minor) filter (where r.status <> 'REFUND_FAILED'), 0)::text as reserved
            from payment_orders po left join refunds r on r.payment_order_id = po.id
           where ${scope}
           group by po.id
          having coalesce(sum(r.amount_minor) filter (where r.status = 'REFUNDED'), 0) <> po.refunded_minor
              or coalesce(sum(r.amount_minor) filter (where r.status <> 'REFUND_FAILED'), 0) <> po.refund_reserved_minor
              or po.refund_reserved_minor > po.amount_minor
              or (po.refund_reserved_minor > 0 and po.status <> 'CAPTURED')`,
    ],
    [
      'no order of a DECLINED payment has any entry',
      sql`select je.id from journal_entries je join payment_orders po on po.id = je.payment_order_id join payments p on p.id = po.payment_id where p.status = 'DECLINED' and ${scope}`,
    ],
    [
      'an order still in flight has no CAPTURE or AUTH_RELEASE',
      sql`select je.id from journal_entries je join payment_orders po on po.id = je.payment_order_id
           where po.status in ('INITIATED_PENDING','CAPTURE_REQUESTED','PENDING_CAPTURE') and je.entry_type <> 'AUTH_HOLD' and ${settled}`,
    ],
    [
      'every entry belongs to a known PaymentOrder of the same seller, for its amount',
      sql`select je.id from journal_entries je left join payment_orders po on po.id = je.payment_order_id
           where je.entry_type in ('AUTH_HOLD','CAPTURE','AUTH_RELEASE','REFUND') and ((po.id is null and ${options.paymentIds ? sql`je.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}) or (${scope} and (po.seller_id <> je.seller_id or po.payment_id <> je.payment_id
              or (select sum(amount_minor) from postings p where p.journal_entry_id = je.id and p.direction = 'DEBIT' and p.account_code in ('AUTH_RECEIVABLE','AUTH_LIABILITY')) <> po.amount_minor)))`,
    ],
    [
      'every ledger fact is journaled within the grace period',
      sql`select f.id, f.stream_id, f.created_at from ledger_facts f
           where f.journaled_at is null and f.quarantined_at is null and f.created_at < now() - make_interval(secs => ${options.graceMs / 1000})
             and ${options.paymentIds ? sql`f.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}`,
    ],
    [
      'no ledger fact is quarantined (set aside because it could not become a valid entry)',
      sql`select f.id, f.stream_id, f.quarantine_reason from ledger_facts f
           where f.quarantined_at is not null and ${options.paymentIds ? sql`f.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}`,
    ],
    [
      'every journaled fact has its journal entry',
      sql`select f.id from ledger_facts f left join journal_entries je on je.id = f.id
           where f.journaled_at is not null and je.id is null and ${options.paymentIds ? sql`f.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}`,
    ],
    [
      "every stream's batch sequence is gapless (1..last) and matches its head",
      sql`select s.stream_id, s.last_seq::text, count(b.seq)::int as batches, max(b.seq)::text as max_seq
            from ledger_streams s left join ledger_batches b on b.stream_id = s.stream_id
           group by s.stream_id, s.last_seq
          having count(b.seq) <> s.last_seq or coalesce(max(b.seq), 0) <> s.last_seq`,
    ],
    [
      'every journal entry belongs to a recorded batch of its stream',
      sql`select je.id, je.batch_id from journal_entries je left join ledger_batches b on b.id = je.batch_id
           where (b.id is null or b.stream_id <> je.seller_id) and ${options.paymentIds ? sql`je.payment_id = any(${uuidArray(options.paymentIds)})` : sql`true`}`,
    ],
    ...moneyOutChecks(options.graceMs, options.paymentIds),
  ];

  const results: CheckResult[] = [];
  for (const [name, query] of checks) {
    const { rows } = await db.execute(query);
    results.push({ name, violations: rows.length, examples: rows.slice(0, sampleMax) });
  }
  const counts = (await db.execute(sql`select (select count(*) from journal_entries)::int as entries, (select count(*) from postings)::int as postings, (select count(*) from payment_orders)::int as orders`)).rows[0] as VerificationReport['counts'];
  return { ok: results.every((r) => r.violations === 0), checks: results, counts };
}

/**
 * Money out: payouts and settlements against their entries, and platform cash against its sources.
 * Rows changed within the grace window are left alone (their facts may not be journaled yet).
 */
function moneyOutChecks(graceMs: number, paymentIds?: string[]): Array<[string, SQL]> {
  const settledBefore = (column: SQL) => sql`${column} < now() - make_interval(secs => ${graceMs / 1000})`;
  // Scoped to some payments (a test's, a benchmark's): their settlements only; payouts are per
  // seller, not per payment, so they are checked by an unscoped run (ledger:verify, the Schedule).
  const ofPayments = (column: SQL) => (paymentIds ? sql`${column} = any(${uuidArray(paymentIds)})` : sql`true`);
  const payoutCheck: Array<[string, SQL]> = paymentIds ? [] : [
    [
      'every PAID payout has exactly one PAYOUT entry for its amount (a RETURNED one also its PAYOUT_RETURN); no other payout has one',
      sql`select p.id as payout_id, p.status, count(je.id) filter (where je.entry_type = 'PAYOUT') as payouts, count(je.id) filter (where je.entry_type = 'PAYOUT_RETURN') as returns
            from payouts p left join journal_entries je on je.subject_id = p.id::text and je.entry_type in ('PAYOUT','PAYOUT_RETURN')
           where ${settledBefore(sql`p.updated_at`)}
           group by p.id, p.status, p.amount_minor
          having count(je.id) filter (where je.entry_type = 'PAYOUT') <> (case when p.status in ('PAID','RETURNED') then 1 else 0 end)
              or count(je.id) filter (where je.entry_type = 'PAYOUT_RETURN') <> (case when p.status = 'RETURNED' then 1 else 0 end)
              or exists (select 1 from postings x join journal_entries y on y.id = x.journal_entry_id
                          where y.subject_id = p.id::text and y.entry_type in ('PAYOUT','PAYOUT_RETURN') and x.direction = 'DEBIT' and x.amount_minor <> p.amount_minor)`,
    ],
  ];
  return [
    ...payoutCheck,
    [
      'every settled order or refund has its SETTLEMENT entry (a matched settlement item)',
      sql`select po.id as subject_id from payment_orders po
           where po.settled_at is not null and ${settledBefore(sql`po.settled_at`)} and ${ofPayments(sql`po.payment_id`)}
             and not exists (select 1 from settlement_items i join journal_entries je on je.id = 'SETTLEMENT:' || i.item_id where i.payment_order_id = po.id and i.kind = 'CAPTURE')
          union all
          select r.id from refunds r
           where r.settled_at is not null and ${settledBefore(sql`r.settled_at`)} and ${ofPayments(sql`r.payment_id`)}
             and not exists (select 1 from settlement_items i join journal_entries je on je.id = 'SETTLEMENT:' || i.item_id where i.refund_id = r.id)`,
    ],
    [
      'every settlement item matched to one of our captures or refunds settled it, or has an open amount/fee mismatch (nothing the PSP paid us is stranded)',
      sql`select i.item_id from settlement_items i
            left join payment_orders po on i.kind = 'CAPTURE' and po.id = i.payment_order_id
            left join refunds r on i.kind = 'REFUND' and r.id = i.refund_id
           where (po.id is not null or r.id is not null) and ${settledBefore(sql`i.created_at`)} and ${ofPayments(sql`coalesce(po.payment_id, r.payment_id)`)}
             and coalesce(po.settled_at, r.settled_at) is null
             and not exists (select 1 from reconciliation_mismatches m where m.subject_id = i.item_id and m.kind in ('amount-mismatch', 'fee-mismatch', 'settled-unknown') and m.resolved_at is null)`,
    ],
    [
      'no capture or refund has more than one SETTLEMENT entry',
      sql`select coalesce(i.refund_id, i.payment_order_id)::text as subject_id, count(*) as settlements
            from settlement_items i join journal_entries je on je.id = 'SETTLEMENT:' || i.item_id
            left join payment_orders po on po.id = i.payment_order_id
           where i.payment_order_id is not null and ${ofPayments(sql`po.payment_id`)}
           group by i.kind, coalesce(i.refund_id, i.payment_order_id) having count(*) > 1`,
    ],
    [
      'no settlement item naming one of our captures is left unmatched (a settled-unknown item we know now)',
      sql`select i.item_id from settlement_items i join payment_orders po on po.psp_capture_id = i.psp_capture_id
           where i.kind = 'CAPTURE' and i.payment_order_id is null and ${settledBefore(sql`i.created_at`)} and ${ofPayments(sql`po.payment_id`)}
             and not exists (select 1 from reconciliation_mismatches m where m.subject_id = i.item_id and m.kind = 'settled-unknown' and m.resolved_at is null)`,
    ],
    [
      'platform cash = settled net (captures in, refunds out) - payouts paid + payouts returned +/- adjustments of cash',
      sql`with journaled as (select id from ledger_facts where journaled_at is not null),
            expected as (
              select i.currency, sum(case i.kind when 'CAPTURE' then i.net_minor else -i.net_minor end) as v
                from settlement_items i join journaled j on j.id = 'SETTLEMENT:' || i.item_id group by i.currency
              union all
              select p.currency, -sum(p.amount_minor) from payouts p join journaled j on j.id = 'PAYOUT:' || p.id::text group by p.currency
              union all
              select p.currency, sum(p.amount_minor) from payouts p join journaled j on j.id = 'PAYOUT_RETURN:' || p.id::text group by p.currency
              union all
              select a.currency, sum(case when a.debit_account = 'PLATFORM_CASH' then a.amount_minor else -a.amount_minor end)
                from ledger_adjustments a join journaled j on j.id = 'ADJUSTMENT:' || a.id::text
               where 'PLATFORM_CASH' in (a.debit_account, a.credit_account) group by a.currency),
            want as (select currency, sum(v) as v from expected group by currency),
            have as (select currency, sum(case direction when 'DEBIT' then amount_minor else -amount_minor end) as v from postings where account_code = 'PLATFORM_CASH' group by currency)
          select coalesce(w.currency, h.currency) as currency, coalesce(w.v, 0)::text as expected, coalesce(h.v, 0)::text as ledger
            from want w full join have h on h.currency = w.currency
           where coalesce(w.v, 0) <> coalesce(h.v, 0)`,
    ],
  ];
}
