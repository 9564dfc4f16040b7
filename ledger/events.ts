/**
 * The LedgerEntriesRecorded event, as published on `ledger_entries_recorded_topic` (key =
 * sellerId). Amounts are decimal strings of minor units so that no JSON parser can round them.
 * `eventId` is deterministic (the ledger batch id) so consumers can drop redeliveries; each
 * entry's `journalEntryId` is unique across the whole ledger.
 */
import type { Direction } from './accounts';
import type { EntryType } from './journal';

/**
 * `postingId` is the posting's database id (a decimal string). For one seller's stream it only
 * grows: a seller's batches commit one after another. Consumers use it as a watermark.
 */
export type PostingData = { postingId: string; accountCode: string; direction: Direction; amountMinor: string; currency: string };

export type LedgerEntryData = {
  journalEntryId: string;
  entryType: EntryType;
  paymentOrderId: string;
  paymentId: string;
  postings: PostingData[];
};

export type LedgerEntriesRecordedEvent = {
  eventId: string;
  eventType: 'LedgerEntriesRecorded';
  aggregateId: string;
  traceId: string | null;
  occurredAt: string;
  data: { sellerId: string; entries: LedgerEntryData[] };
};
