/**
 * Ledger activities: commit a batch of facts as journal entries in one Postgres transaction, then
 * publish what the batch recorded as one LedgerEntriesRecorded event.
 *
 * Idempotency: entry ids are deterministic (`{TYPE}:{paymentOrderId}`) and inserted with
 * ON CONFLICT DO NOTHING, so a duplicated signal or a retried activity adds nothing. Each entry
 * remembers the batch that wrote it; a commit retried after its transaction did commit (the worker
 * died before reporting success) finds its entries by batch id and reports them again, so they
 * are still published. Entries written by an earlier batch are not re-published by a later one.
 *
 * Emission is at-least-once: the ledger workflow runs commit and publish as one activity, which
 * completes only when Kafka has acknowledged the event, and Temporal retries it (no attempt limit,
 * bounded interval). If the worker dies between commit and publish, the activity times out and
 * runs again on another worker: the commit finds the batch's entries, the publish sends them. If
 * Kafka is down for minutes, the activity keeps retrying and the workflow keeps collecting facts.
 * Batches of one seller are published in commit order, one at a time. The event id is the batch
 * id, so consumers can drop duplicates.
 */
import { asc, eq } from 'drizzle-orm';
import type { LazyProducer } from '../kafka/client';
import type { Database } from '../db/client';
import { journalEntries, postings } from '../db/schema';
import { parseMinor } from '../domain/money';
import { ledgerBatchSize, ledgerCommitDuration } from '../observability/metrics';
import { postingsFor, type JournalEntry } from '../ledger/journal';
import type { LedgerEntriesRecordedEvent, LedgerEntryData } from '../ledger/events';
import type { LedgerFactPayload } from '../workflows/contracts';

export type CommitBatchInput = { sellerId: string; batchId: string; facts: LedgerFactPayload[] };
export type CommitBatchResult = { batchId: string; sellerId: string; committedAt: string; entries: LedgerEntryData[]; traceparent?: string };

export function createLedgerActivities(deps: { db: Database; producer: LazyProducer; topic: string }) {
  const activities = {
    async commitLedgerBatch(input: CommitBatchInput): Promise<CommitBatchResult> {
      const entries = new Map<string, JournalEntry>();
      for (const fact of input.facts) {
        const entry = postingsFor({ ...fact, amountMinor: parseMinor(fact.amountMinor) });
        entries.set(entry.id, entry);
      }
      const commitStarted = process.hrtime.bigint();
      const mine = await deps.db.transaction(async (tx) => {
        const inserted = await tx
          .insert(journalEntries)
          .values([...entries.values()].map((e) => ({ id: e.id, entryType: e.entryType, paymentOrderId: e.paymentOrderId, paymentId: e.paymentId, sellerId: e.sellerId, batchId: input.batchId })))
          .onConflictDoNothing({ target: journalEntries.id })
          .returning({ id: journalEntries.id });
        const insertedIds = new Set(inserted.map((r) => r.id));
        const rows = [...entries.values()]
          .filter((e) => insertedIds.has(e.id))
          .flatMap((e) => e.postings.map((p) => ({ journalEntryId: e.id, accountCode: p.accountCode, direction: p.direction, amountMinor: p.amountMinor, currency: p.currency })));
        if (rows.length > 0) await tx.insert(postings).values(rows);
        // Ours = inserted now, or by an earlier attempt of this same batch (its result was lost).
        return tx
          .select({ entryId: journalEntries.id, createdAt: journalEntries.createdAt, postingId: postings.id, accountCode: postings.accountCode, direction: postings.direction, amountMinor: postings.amountMinor, currency: postings.currency })
          .from(journalEntries)
          .innerJoin(postings, eq(postings.journalEntryId, journalEntries.id))
          .where(eq(journalEntries.batchId, input.batchId))
          .orderBy(asc(postings.id));
      });
      ledgerCommitDuration.observe(Number(process.hrtime.bigint() - commitStarted) / 1e9);
      const byEntry = new Map<string, LedgerEntryData>();
      let committedAt = new Date(0);
      for (const row of mine) {
        const entry = entries.get(row.entryId);
        if (!entry) continue;
        if (row.createdAt > committedAt) committedAt = row.createdAt;
        let data = byEntry.get(row.entryId);
        if (!data) {
          data = { journalEntryId: entry.id, entryType: entry.entryType, paymentOrderId: entry.paymentOrderId, paymentId: entry.paymentId, postings: [] };
          byEntry.set(row.entryId, data);
        }
        data.postings.push({ postingId: row.postingId.toString(), accountCode: row.accountCode, direction: row.direction as 'DEBIT' | 'CREDIT', amountMinor: row.amountMinor.toString(), currency: row.currency });
      }
      ledgerBatchSize.observe(byEntry.size);
      return {
        batchId: input.batchId,
        sellerId: input.sellerId,
        committedAt: (mine.length > 0 ? committedAt : new Date()).toISOString(),
        entries: [...byEntry.values()],
        traceparent: input.facts.find((f) => f.traceparent)?.traceparent,
      };
    },

    async publishLedgerEntries(batch: CommitBatchResult): Promise<void> {
      const traceId = batch.traceparent?.split('-')[1] ?? null;
      const event: LedgerEntriesRecordedEvent = {
        eventId: batch.batchId,
        eventType: 'LedgerEntriesRecorded',
        aggregateId: batch.sellerId,
        traceId,
        occurredAt: batch.committedAt,
        data: { sellerId: batch.sellerId, entries: batch.entries },
      };
      await deps.producer.send({
        topic: deps.topic,
        acks: -1,
        messages: [{ key: batch.sellerId, value: JSON.stringify(event), headers: { eventId: event.eventId, eventType: event.eventType } }],
      });
    },

    /**
     * Both steps in one activity, which is what the ledger workflow runs: one round trip through
     * Temporal per batch instead of two. It completes only once Kafka has acknowledged the event;
     * if publishing fails, the retry commits again (a no-op that finds the batch's entries) and
     * publishes again.
     */
    async commitAndPublishLedgerBatch(input: CommitBatchInput): Promise<{ entries: number }> {
      const committed = await activities.commitLedgerBatch(input);
      if (committed.entries.length > 0) await activities.publishLedgerEntries(committed);
      return { entries: committed.entries.length };
    },
  };
  return activities;
}
