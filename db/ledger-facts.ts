/**
 * The ledger's copy of record before journaling: facts are inserted in the transaction of the
 * state change that produced them (a PaymentOrder transition), idempotently (the fact id is the
 * journal entry id it becomes), and journaled later by the stream's ledger workflow.
 */
import { sql } from 'drizzle-orm';
import { journalEntryId } from '../ledger/journal';
import type { LedgerFactPayload } from '../workflows/contracts';
import type { Database } from './client';
import { ledgerFacts } from './schema';

/** A transaction or the database: both run statements. */
export type Executor = Pick<Database, 'insert' | 'execute' | 'select' | 'update'>;

/** What a fact's journal entry id is made of: its money-out subject, its refund, or its order. */
export function factSubjectId(f: LedgerFactPayload): string {
  const subject = f.subject?.subjectId ?? f.refund?.refundId ?? f.paymentOrderId;
  if (subject === null) throw new Error(`a ${f.entryType} fact needs a payment order or a subject`);
  return subject;
}

/** Inserts facts that are not there yet; returns how many were new. */
export async function insertLedgerFacts(tx: Executor, facts: readonly LedgerFactPayload[], traceparent?: string | null): Promise<number> {
  if (facts.length === 0) return 0;
  const inserted = await tx
    .insert(ledgerFacts)
    .values(
      facts.map((f) => ({
        id: journalEntryId(f.entryType, factSubjectId(f)),
        entryType: f.entryType,
        streamId: f.sellerId,
        paymentId: f.paymentId,
        paymentOrderId: f.paymentOrderId,
        amountMinor: BigInt(f.amountMinor),
        currency: f.currency,
        commissionBps: f.commissionBps,
        metadata: f.metadata ?? null,
        refundId: f.refund?.refundId ?? null,
        capturedMinor: f.refund ? BigInt(f.refund.capturedMinor) : null,
        refundedBeforeMinor: f.refund ? BigInt(f.refund.refundedBeforeMinor) : null,
        subject: f.subject ?? null,
        traceparent: f.traceparent ?? traceparent ?? null,
      })),
    )
    .onConflictDoNothing({ target: ledgerFacts.id })
    .returning({ id: ledgerFacts.id });
  return inserted.length;
}

/**
 * Streams with work waiting longer than `minAgeMs`: facts not journaled, or batches not
 * published. The sweeper wakes their ledger workflows (a terminated or lost workflow loses nothing).
 */
export async function streamsNeedingWork(db: Database, options: { minAgeMs: number; limit: number }): Promise<string[]> {
  const age = sql`now() - make_interval(secs => ${options.minAgeMs / 1000})`;
  const { rows } = await db.execute<{ stream_id: string }>(sql`
    (select stream_id from ledger_facts where journaled_at is null and quarantined_at is null and created_at < ${age} group by stream_id limit ${options.limit})
    union
    (select stream_id from ledger_batches where published_at is null and created_at < ${age} group by stream_id limit ${options.limit})`);
  return rows.map((r) => r.stream_id);
}
