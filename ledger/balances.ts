/**
 * Balance aggregation, the pure part: validating a LedgerEntriesRecorded event and turning it into
 * signed per-account deltas. A balance is kept per (account, currency, stream), where the stream
 * is the seller whose ledger wrote the postings (the event's aggregateId). Within one stream
 * posting ids only grow, so the last applied posting id is a watermark: a posting at or below it
 * has been applied already.
 */
import { z } from 'zod';
import { sellerOfAccount, signedAmount } from './accounts';
import type { LedgerEntriesRecordedEvent } from './events';
import { ENTRY_TYPES } from './journal';

export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

const decimal = z.string().regex(/^(0|[1-9][0-9]{0,18})$/, 'must be a decimal string of at most 19 digits');
const eventSchema = z.object({
  eventId: z.string().min(1).max(512),
  eventType: z.literal('LedgerEntriesRecorded'),
  aggregateId: z.string().min(1).max(256),
  sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  traceId: z.string().nullable(),
  occurredAt: z.string().datetime({ offset: true }),
  data: z.object({
    sellerId: z.string().min(1).max(256),
    entries: z
      .array(
        z.object({
          journalEntryId: z.string().min(1).max(256),
          entryType: z.enum(ENTRY_TYPES),
          metadata: z.record(z.string(), z.string().max(256)).optional(),
          paymentOrderId: z.string().min(1),
          paymentId: z.string().min(1),
          postings: z
            .array(
              z.object({
                postingId: decimal.refine((v) => v !== '0', 'must be positive'),
                accountCode: z.string().min(1).max(300),
                direction: z.enum(['DEBIT', 'CREDIT']),
                amountMinor: decimal.refine((v) => v !== '0', 'must be positive'),
                currency: z.string().regex(/^[A-Z]{3}$/),
              }),
            )
            .min(2),
        }),
      )
      .max(10_000),
  }),
});

/** Parses and validates a message value; anything else is a poison message. */
export function parseLedgerEvent(value: Buffer | string | null): LedgerEntriesRecordedEvent {
  if (value === null) throw new PoisonMessageError('empty message');
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString());
  } catch {
    throw new PoisonMessageError('not JSON');
  }
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PoisonMessageError(`invalid event at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const event: LedgerEntriesRecordedEvent = parsed.data;
  if (event.aggregateId !== event.data.sellerId) throw new PoisonMessageError('aggregateId differs from data.sellerId');
  for (const entry of event.data.entries) {
    const net = new Map<string, bigint>();
    for (const p of entry.postings) {
      const owner = sellerOfAccount(p.accountCode);
      if (owner !== undefined && owner !== event.aggregateId) throw new PoisonMessageError(`posting to ${p.accountCode} in the stream of ${event.aggregateId}`);
      net.set(p.currency, (net.get(p.currency) ?? 0n) + (p.direction === 'DEBIT' ? BigInt(p.amountMinor) : -BigInt(p.amountMinor)));
    }
    if ([...net.values()].some((n) => n !== 0n)) throw new PoisonMessageError(`entry ${entry.journalEntryId} does not balance`);
  }
  return event;
}

export type BalanceKey = { accountCode: string; currency: string; streamId: string };

export const encodeBalanceKey = (k: BalanceKey): string => `${k.accountCode}|${k.currency}|${k.streamId}`;

export function decodeBalanceKey(encoded: string): BalanceKey {
  const [accountCode, currency, ...rest] = encoded.split('|');
  if (!accountCode || !currency || rest.length === 0) throw new Error(`not a balance key: ${encoded}`);
  return { accountCode, currency, streamId: rest.join('|') };
}

export type PostingDelta = { postingId: bigint; signedMinor: bigint; entryId: string };

/** The event's postings grouped by balance key, in ascending posting id, with signed amounts. */
export function deltasOf(event: LedgerEntriesRecordedEvent): Map<string, PostingDelta[]> {
  const byKey = new Map<string, PostingDelta[]>();
  for (const entry of event.data.entries) {
    for (const p of entry.postings) {
      const key = encodeBalanceKey({ accountCode: p.accountCode, currency: p.currency, streamId: event.aggregateId });
      const list = byKey.get(key) ?? [];
      list.push({ postingId: BigInt(p.postingId), signedMinor: signedAmount(p.accountCode, p.direction, BigInt(p.amountMinor)), entryId: entry.journalEntryId });
      byKey.set(key, list);
    }
  }
  for (const list of byKey.values()) list.sort((a, b) => (a.postingId < b.postingId ? -1 : a.postingId > b.postingId ? 1 : 0));
  return byKey;
}

/**
 * A balance read as snapshot + Redis, without double counting a fold in progress. Folds only ever
 * move the watermark of Postgres to a watermark Redis had, so with Redis read first: if Postgres
 * is already at or past Redis's watermark it holds everything; if it is at or past the pending
 * fold's watermark it holds the fold; otherwise both are added.
 */
export function combineBalance(snapshot: { balanceMinor: bigint; lastPostingId: bigint } | undefined, redis: { deltaMinor: bigint; watermark: bigint; foldingMinor: bigint; foldingWatermark: bigint } | undefined): bigint {
  const base = snapshot?.balanceMinor ?? 0n;
  const last = snapshot?.lastPostingId ?? 0n;
  if (!redis) return base;
  if (last >= redis.watermark) return base;
  if (redis.foldingWatermark > 0n && last >= redis.foldingWatermark) return base + redis.deltaMinor;
  return base + redis.foldingMinor + redis.deltaMinor;
}
