/**
 * The LedgerEntriesRecorded event, as published on `ledger_entries_recorded_topic` (key =
 * the stream id, i.e. the sellerId). One event per committed ledger batch. Amounts are decimal
 * strings of minor units so that no JSON parser can round them.
 *
 * `sequence` is the batch's gapless, per-stream sequence number (1, 2, 3, ...), assigned in the
 * transaction that committed the batch and stored with it (`ledger_batches`). Consumers apply a
 * stream's events strictly in sequence: a sequence at or below the last applied one is a
 * duplicate; one above the next expected is a gap, which is never skipped. `eventId` is the
 * batch id (stable across re-publication); each entry's `journalEntryId` is unique across the
 * whole ledger.
 */
import type { Direction } from './accounts';
import type { EntryType } from './journal';

/**
 * `postingId` is the posting's database id (a decimal string). For one stream it only grows, but
 * the sequence, not the posting id, orders a stream's events.
 */
export type PostingData = { postingId: string; accountCode: string; direction: Direction; amountMinor: string; currency: string };
export type LedgerEntryData = {
  journalEntryId: string;
  entryType: EntryType;
  /** Null for money-out entries (SETTLEMENT, PAYOUT, PAYOUT_RETURN, ADJUSTMENT). */
  paymentOrderId: string | null;
  paymentId: string | null;
  /** Facts about the entry that are not postings, e.g. `{ pspCaptureId }` of a CAPTURE. */
  metadata?: Record<string, string>;
  postings: PostingData[];
};
export type LedgerEntriesRecordedEvent = {
  eventId: string;
  eventType: 'LedgerEntriesRecorded';
  aggregateId: string;
  /** Gapless per-stream sequence number of the batch, >= 1 (a JSON integer). */
  sequence: number;
  traceId: string | null;
  occurredAt: string;
  data: { sellerId: string; entries: LedgerEntryData[] };
};
