/**
 * Ledger activities: journal a stream's pending facts (Postgres) and publish its committed batches
 * (Kafka), as two independent steps.
 *
 * Journal: one transaction locks the stream's head row (`ledger_streams`), takes its oldest
 * pending facts, writes their journal entries and postings (deterministic entry ids, ON CONFLICT DO
 * NOTHING: a fact journaled before adds nothing), records the batch with the stream's next
 * sequence number (gapless: the lock serialises a stream's commits) and marks the facts journaled.
 * A fact that cannot become a valid entry - a bug, or a value the database refuses - is set aside
 * (quarantined, counted, visible to ledger:verify) instead of blocking every fact behind it.
 *
 * Publish: under a per-stream advisory lock, the stream's unpublished batches are sent in sequence
 * order (one LedgerEntriesRecorded event per batch, event id = batch id) and marked published once
 * Kafka acknowledged them. Delivery is at least once: a crash between the ack and the mark, or two
 * publishers, re-send a batch under the same sequence number, which consumers drop.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import { Counter } from 'prom-client';
import type { Database } from '../db/client';
import { isDataRejection } from '../db/errors';
import { insertLedgerFacts } from '../db/ledger-facts';
import { journalEntries, ledgerBatches, ledgerFacts, ledgerStreams, postings } from '../db/schema';
import type { LazyProducer } from '../kafka/client';
import type { LedgerEntriesRecordedEvent, LedgerEntryData } from '../ledger/events';
import { isSubjectEntryType, postingsFor, type EntryType, type JournalEntry } from '../ledger/journal';
import { ledgerBatchSize, ledgerCommitDuration } from '../observability/metrics';
import type { LedgerFactPayload, LedgerFactSubject } from '../workflows/contracts';

export const ledgerFactsQuarantined = new Counter({ name: 'payorch_ledger_facts_quarantined_total', help: 'Ledger facts set aside because they cannot become a valid journal entry (a bug; see ledger:verify)' });
export const ledgerPublishFailures = new Counter({ name: 'payorch_ledger_publish_failures_total', help: 'Attempts to publish a stream\'s committed batches to Kafka that failed (they are retried)' });

/** Advisory-lock class of "publishing stream X" (the second key is hashtext(streamId)). */
const PUBLISH_LOCK_CLASS = 0x1ed6e7;
/** Kafka's default max.message.bytes is 1 MiB: one send carries at most this many bytes of events. */
const SEND_BYTES_MAX = 512 * 1024;

export type JournalResult = { entries: number; facts: number; moreFacts: boolean };
/** `busy`: another process holds the stream's publish lock (it sends everything in order). */
export type PublishResult = { published: number; unpublished: boolean; busy?: boolean };
export type JournalAndPublishResult = { entries: number; moreFacts: boolean; unpublished: boolean; publishError: string | null; publishBusy: boolean };

export type LedgerActivityDeps = { db: Database; producer: LazyProducer; topic: string; publishTimeoutMs?: number };

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type FactRow = typeof ledgerFacts.$inferSelect;

function entryOf(row: FactRow): JournalEntry {
  const entryType = row.entryType as EntryType;
  const subject = row.subject as LedgerFactSubject | null;
  if (isSubjectEntryType(entryType)) {
    if (!subject) throw new Error(`fact ${row.id} has no subject`);
    return postingsFor({
      entryType,
      paymentOrderId: null,
      paymentId: null,
      sellerId: row.streamId,
      amountMinor: row.amountMinor,
      currency: row.currency,
      commissionBps: row.commissionBps,
      subject: {
        subjectId: subject.subjectId,
        ...(subject.feeMinor !== undefined ? { feeMinor: BigInt(subject.feeMinor) } : {}),
        ...(subject.direction ? { direction: subject.direction } : {}),
        ...(subject.debitAccount ? { debitAccount: subject.debitAccount } : {}),
        ...(subject.creditAccount ? { creditAccount: subject.creditAccount } : {}),
      },
    });
  }
  if (row.paymentId === null || row.paymentOrderId === null) throw new Error(`fact ${row.id} has no payment order`);
  return postingsFor({
    entryType: row.entryType as EntryType,
    paymentOrderId: row.paymentOrderId,
    paymentId: row.paymentId,
    sellerId: row.streamId,
    amountMinor: row.amountMinor,
    currency: row.currency,
    commissionBps: row.commissionBps,
    ...(row.refundId !== null && row.capturedMinor !== null && row.refundedBeforeMinor !== null
      ? { refund: { refundId: row.refundId, capturedMinor: row.capturedMinor, refundedBeforeMinor: row.refundedBeforeMinor } }
      : {}),
  });
}

export function createLedgerActivities(deps: LedgerActivityDeps) {
  const { db } = deps;
  const publishTimeoutMs = deps.publishTimeoutMs ?? 10_000;

  /** One batch of a stream's oldest pending facts, in one transaction. */
  async function journalBatch(streamId: string, maxItems: number): Promise<JournalResult> {
    const started = process.hrtime.bigint();
    const result = await db.transaction(async (tx) => {
      await tx.insert(ledgerStreams).values({ streamId }).onConflictDoNothing({ target: ledgerStreams.streamId });
      const [head] = await tx.select({ lastSeq: ledgerStreams.lastSeq }).from(ledgerStreams).where(eq(ledgerStreams.streamId, streamId)).for('update');
      const rows = await tx
        .select()
        .from(ledgerFacts)
        .where(and(eq(ledgerFacts.streamId, streamId), isNull(ledgerFacts.journaledAt), isNull(ledgerFacts.quarantinedAt)))
        .orderBy(asc(ledgerFacts.position))
        .limit(maxItems + 1);
      const moreFacts = rows.length > maxItems;
      const facts = rows.slice(0, maxItems);
      if (facts.length === 0) return { entries: 0, facts: 0, moreFacts: false };

      const built: Array<{ row: FactRow; entry: JournalEntry }> = [];
      for (const row of facts) {
        try {
          built.push({ row, entry: entryOf(row) });
        } catch (err) {
          await tx.update(ledgerFacts).set({ quarantinedAt: sql`now()`, quarantineReason: (err as Error).message.slice(0, 500) }).where(eq(ledgerFacts.id, row.id));
          ledgerFactsQuarantined.inc();
        }
      }
      const batchId = randomUUID();
      const inserted = built.length === 0 ? [] : await tx
        .insert(journalEntries)
        .values(built.map(({ row, entry }) => ({ id: entry.id, entryType: entry.entryType, paymentOrderId: entry.paymentOrderId, paymentId: entry.paymentId, sellerId: entry.sellerId, batchId, metadata: row.metadata, refundId: entry.refundId ?? null, subjectId: entry.subjectId ?? null })))
        .onConflictDoNothing({ target: journalEntries.id })
        .returning({ id: journalEntries.id });
      const insertedIds = new Set(inserted.map((r) => r.id));
      const postingRows = built
        .filter(({ entry }) => insertedIds.has(entry.id))
        .flatMap(({ entry }) => entry.postings.map((p) => ({ journalEntryId: entry.id, accountCode: p.accountCode, direction: p.direction, amountMinor: p.amountMinor, currency: p.currency })));
      if (postingRows.length > 0) await tx.insert(postings).values(postingRows);
      if (inserted.length > 0) {
        const seq = head!.lastSeq + 1n;
        await tx.insert(ledgerBatches).values({ id: batchId, streamId, seq, entryCount: inserted.length, traceparent: facts.find((f) => f.traceparent)?.traceparent ?? null });
        await tx.update(ledgerStreams).set({ lastSeq: seq, updatedAt: sql`now()` }).where(eq(ledgerStreams.streamId, streamId));
      }
      if (built.length > 0) await tx.update(ledgerFacts).set({ journaledAt: sql`now()` }).where(inArray(ledgerFacts.id, built.map(({ row }) => row.id)));
      return { entries: inserted.length, facts: facts.length, moreFacts };
    });
    ledgerCommitDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (result.entries > 0) ledgerBatchSize.observe(result.entries);
    return result;
  }

  /**
   * Journals up to `maxItems` pending facts of a stream. If the database refuses the batch (a
   * constraint, a value out of range), the culprit is found by going one fact at a time and set
   * aside; the others are journaled on the next calls.
   */
  async function journalPending(streamId: string, maxItems: number): Promise<JournalResult> {
    if (maxItems <= 0) return { entries: 0, facts: 0, moreFacts: false };
    try {
      return await journalBatch(streamId, maxItems);
    } catch (err) {
      if (!isDataRejection(err)) throw err;
      if (maxItems > 1) return { ...(await journalPending(streamId, 1)), moreFacts: true };
      const [first] = await db
        .select({ id: ledgerFacts.id })
        .from(ledgerFacts)
        .where(and(eq(ledgerFacts.streamId, streamId), isNull(ledgerFacts.journaledAt), isNull(ledgerFacts.quarantinedAt)))
        .orderBy(asc(ledgerFacts.position))
        .limit(1);
      if (first) {
        await db.update(ledgerFacts).set({ quarantinedAt: sql`now()`, quarantineReason: `the database refused its entry: ${(err as Error).message}`.slice(0, 500) }).where(eq(ledgerFacts.id, first.id));
        ledgerFactsQuarantined.inc();
      }
      return { entries: 0, facts: 0, moreFacts: true };
    }
  }

  /** Sends a stream's unpublished batches in sequence order, then marks them published. */
  async function publishPending(streamId: string, maxBatches = 50): Promise<PublishResult> {
    return db.transaction(async (tx) => {
      const locked = await tx.execute<{ ok: boolean }>(sql`select pg_try_advisory_xact_lock(${PUBLISH_LOCK_CLASS}, hashtext(${streamId})) as ok`);
      // Another process is publishing this stream right now; it sends everything in order.
      if (!locked.rows[0]?.ok) return { published: 0, unpublished: true, busy: true };
      const batches = await tx
        .select()
        .from(ledgerBatches)
        .where(and(eq(ledgerBatches.streamId, streamId), isNull(ledgerBatches.publishedAt)))
        .orderBy(asc(ledgerBatches.seq))
        .limit(maxBatches + 1);
      const sending = batches.slice(0, maxBatches);
      if (sending.length === 0) return { published: 0, unpublished: false };
      const rows = await tx
        .select({ entryId: journalEntries.id, entryType: journalEntries.entryType, paymentOrderId: journalEntries.paymentOrderId, paymentId: journalEntries.paymentId, metadata: journalEntries.metadata, batchId: journalEntries.batchId, postingId: postings.id, accountCode: postings.accountCode, direction: postings.direction, amountMinor: postings.amountMinor, currency: postings.currency })
        .from(journalEntries)
        .innerJoin(postings, eq(postings.journalEntryId, journalEntries.id))
        .where(inArray(journalEntries.batchId, sending.map((b) => b.id)))
        .orderBy(asc(postings.id));
      const entriesOf = new Map<string, Map<string, LedgerEntryData>>();
      for (const row of rows) {
        const entries = entriesOf.get(row.batchId) ?? new Map<string, LedgerEntryData>();
        entriesOf.set(row.batchId, entries);
        let data = entries.get(row.entryId);
        if (!data) {
          const metadata = row.metadata as Record<string, string> | null;
          data = { journalEntryId: row.entryId, entryType: row.entryType as EntryType, paymentOrderId: row.paymentOrderId, paymentId: row.paymentId, ...(metadata ? { metadata } : {}), postings: [] };
          entries.set(row.entryId, data);
        }
        data.postings.push({ postingId: row.postingId.toString(), accountCode: row.accountCode, direction: row.direction as 'DEBIT' | 'CREDIT', amountMinor: row.amountMinor.toString(), currency: row.currency });
      }
      const messages = sending.map((batch) => {
        const event: LedgerEntriesRecordedEvent = {
          eventId: batch.id,
          eventType: 'LedgerEntriesRecorded',
          aggregateId: streamId,
          sequence: Number(batch.seq),
          traceId: batch.traceparent?.split('-')[1] ?? null,
          occurredAt: batch.createdAt.toISOString(),
          data: { sellerId: streamId, entries: [...(entriesOf.get(batch.id)?.values() ?? [])] },
        };
        return { key: streamId, value: JSON.stringify(event), headers: { eventId: event.eventId, eventType: event.eventType, sequence: String(event.sequence) } };
      });
      // In order, in sends that stay well under Kafka's message size limit.
      for (let i = 0; i < messages.length; ) {
        const chunk = [messages[i]!];
        let bytes = messages[i]!.value.length;
        for (i++; i < messages.length && bytes + messages[i]!.value.length <= SEND_BYTES_MAX; i++) {
          chunk.push(messages[i]!);
          bytes += messages[i]!.value.length;
        }
        await withTimeout(deps.producer.send({ topic: deps.topic, acks: -1, messages: chunk }), publishTimeoutMs, 'publishing to Kafka');
      }
      await tx.update(ledgerBatches).set({ publishedAt: sql`now()` }).where(inArray(ledgerBatches.id, sending.map((b) => b.id)));
      return { published: sending.length, unpublished: batches.length > maxBatches };
    });
  }

  const activities = {
    /** Writes facts that arrived inside a signal (old-version senders) to Postgres. */
    async recordLedgerFacts(input: { facts: LedgerFactPayload[] }): Promise<number> {
      return insertLedgerFacts(db, input.facts);
    },

    /**
     * The ledger workflow's step: journal up to `maxItems` facts, then (if asked) publish the
     * stream's unpublished batches. A failed publish is reported, not thrown: commits must not
     * wait for Kafka.
     */
    async journalAndPublish(input: { streamId: string; maxItems: number; publish: boolean }): Promise<JournalAndPublishResult> {
      const journaled = await journalPending(input.streamId, input.maxItems);
      let unpublished = true;
      let publishError: string | null = null;
      let publishBusy = false;
      if (input.publish) {
        try {
          const published = await publishPending(input.streamId);
          unpublished = published.unpublished;
          publishBusy = published.busy === true;
        } catch (err) {
          ledgerPublishFailures.inc();
          publishError = (err as Error).message.slice(0, 300);
        }
      } else {
        const [row] = await db.select({ id: ledgerBatches.id }).from(ledgerBatches).where(and(eq(ledgerBatches.streamId, input.streamId), isNull(ledgerBatches.publishedAt))).limit(1);
        unpublished = row !== undefined;
      }
      return { entries: journaled.entries, moreFacts: journaled.moreFacts, unpublished, publishError, publishBusy };
    },

    /**
     * The activity of ledger runs of the previous version (same name and input): their facts are
     * recorded in Postgres and journaled through the same path as everything else, so sequence
     * numbers stay gapless. It completes once Kafka acknowledged, as it did then.
     */
    async commitAndPublishLedgerBatch(input: { sellerId: string; batchId: string; facts: LedgerFactPayload[] }): Promise<{ entries: number }> {
      await insertLedgerFacts(db, input.facts);
      let entries = 0;
      for (let more = true; more; ) {
        const journaled = await journalPending(input.sellerId, 500);
        entries += journaled.entries;
        more = journaled.moreFacts;
      }
      for (;;) {
        const published = await publishPending(input.sellerId);
        if (!published.unpublished) break;
        if (published.busy) await new Promise((r) => setTimeout(r, 200));
      }
      return { entries };
    },
  };
  return { ...activities, journalPending, publishPending };
}
