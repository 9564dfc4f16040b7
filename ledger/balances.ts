/**
 * Balance aggregation, the pure part: validating a LedgerEntriesRecorded message, turning an event
 * into per-balance deltas, encoding balance keys, and reading a balance from a Postgres snapshot
 * plus the aggregator's Redis state without double counting.
 *
 * A balance is kept per (account, currency, stream), where the stream is the seller whose ledger
 * wrote the postings (the event's aggregateId). A stream's events are applied strictly in
 * `sequence` order (see ledger/events.ts); within one stream posting ids only grow, so a balance's
 * highest applied posting id is its watermark, and the Postgres snapshot's `last_posting_id` says
 * which postings it holds.
 */
import { z } from 'zod';
import { sellerOfAccount, signedAmount } from './accounts';
import type { LedgerEntriesRecordedEvent } from './events';
import { ENTRY_TYPES } from './journal';

export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Postgres `bigint` and Redis integers are signed 64-bit: nothing outside this range is money we can hold. */
export const INT64_MAX = 9_223_372_036_854_775_807n;

/** At most 19 digits; the check that it fits 64 bits is made once, in the loop below, where it is a BigInt anyway. */
const decimal = z.string().regex(/^(0|[1-9][0-9]{0,18})$/, 'must be a decimal string of at most 19 digits');
const eventSchema = z.object({
  eventId: z.string().min(1).max(512),
  eventType: z.literal('LedgerEntriesRecorded'),
  aggregateId: z.string().min(1).max(256),
  /** Optional only so that events of the previous version (no sequence) are recognised, not dead-lettered. */
  sequence: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
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
          paymentOrderId: z.string().min(1).nullable(),
          paymentId: z.string().min(1).nullable(),
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

/**
 * A valid message: a sequenced event, or an event of the previous version (published before
 * events carried a sequence). The aggregator ignores the latter: it rebuilds each stream from
 * Postgres before applying anything to it, and Postgres already holds what such an event says.
 */
export type LedgerMessage = { kind: 'event'; event: LedgerEntriesRecordedEvent; deltas: Map<string, BalanceDelta> } | { kind: 'legacy'; eventId: string; streamId: string };

/** Parses and validates a message value; anything invalid is a poison message (and only that). */
export function parseLedgerMessage(value: Buffer | string | null): LedgerMessage {
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
  const { sequence, ...rest } = parsed.data;
  if (rest.aggregateId !== rest.data.sellerId) throw new PoisonMessageError('aggregateId differs from data.sellerId');
  for (const entry of rest.data.entries) {
    const net = new Map<string, bigint>();
    for (const p of entry.postings) {
      const owner = sellerOfAccount(p.accountCode);
      if (owner !== undefined && owner !== rest.aggregateId) throw new PoisonMessageError(`posting to ${p.accountCode} in the stream of ${rest.aggregateId}`);
      const amount = BigInt(p.amountMinor);
      if (amount > INT64_MAX || BigInt(p.postingId) > INT64_MAX) throw new PoisonMessageError(`posting ${p.postingId} of ${p.accountCode}: a value does not fit a signed 64-bit integer`);
      net.set(p.currency, (net.get(p.currency) ?? 0n) + (p.direction === 'DEBIT' ? amount : -amount));
    }
    for (const n of net.values()) if (n !== 0n) throw new PoisonMessageError(`entry ${entry.journalEntryId} does not balance`);
  }
  if (sequence === undefined) return { kind: 'legacy', eventId: rest.eventId, streamId: rest.aggregateId };
  const event = { ...rest, sequence };
  return { kind: 'event', event, deltas: deltasOf(event) };
}

export type BalanceKey = { accountCode: string; currency: string; streamId: string };

/**
 * A balance key as one string, injective for every account code, currency and stream id (a
 * seller id may contain `|`, `:`, braces, spaces or any printable Unicode): the JSON encoding of
 * the triple, which escapes whatever could be mistaken for structure.
 */
export const encodeBalanceKey = (k: BalanceKey): string => JSON.stringify([k.accountCode, k.currency, k.streamId]);

export function decodeBalanceKey(encoded: string): BalanceKey {
  let parts: unknown;
  try {
    parts = JSON.parse(encoded);
  } catch {
    throw new Error(`not a balance key: ${encoded}`);
  }
  if (!Array.isArray(parts) || parts.length !== 3 || !parts.every((p) => typeof p === 'string' && p.length > 0)) throw new Error(`not a balance key: ${encoded}`);
  const [accountCode, currency, streamId] = parts as [string, string, string];
  return { accountCode, currency, streamId };
}

/** A stream id as one string (JSON), for key names; injective like encodeBalanceKey. */
export const encodeStreamId = (streamId: string): string => JSON.stringify(streamId);

/** One event's effect on one balance: the signed sum of its postings, the highest posting id, the entry of that posting. */
export type BalanceDelta = { sumMinor: bigint; lastPostingId: bigint; lastEntryId: string };

/**
 * The event's postings summed per balance key (keys in first-seen order). Each sum is added to
 * Redis with one 64-bit increment, so a sum that does not fit makes the event poison.
 */
export function deltasOf(event: LedgerEntriesRecordedEvent): Map<string, BalanceDelta> {
  const byKey = new Map<string, BalanceDelta>();
  for (const entry of event.data.entries) {
    for (const p of entry.postings) {
      const key = encodeBalanceKey({ accountCode: p.accountCode, currency: p.currency, streamId: event.aggregateId });
      const postingId = BigInt(p.postingId);
      const signed = signedAmount(p.accountCode, p.direction, BigInt(p.amountMinor));
      const seen = byKey.get(key);
      if (!seen) {
        byKey.set(key, { sumMinor: signed, lastPostingId: postingId, lastEntryId: entry.journalEntryId });
        continue;
      }
      seen.sumMinor += signed;
      if (seen.sumMinor > INT64_MAX || seen.sumMinor < -INT64_MAX) throw new PoisonMessageError(`the postings to ${p.accountCode} ${p.currency} overflow a 64-bit integer`);
      if (postingId > seen.lastPostingId) {
        seen.lastPostingId = postingId;
        seen.lastEntryId = entry.journalEntryId;
      }
    }
  }
  return byKey;
}

/** The Postgres snapshot of a balance: the sum of its postings with ids up to `lastPostingId`. */
export type BalanceSnapshot = { balanceMinor: bigint; lastPostingId: bigint };

/**
 * Redis's state of a balance: `deltaMinor` is the sum of the postings in (`baseId`, `watermark`],
 * where `baseId` is the snapshot watermark it builds on. A fold in progress has moved the postings
 * (`fold.baseId`, `fold.watermark`] out of the delta (then `baseId` = `fold.watermark`).
 */
export type RedisBalance = { baseId: bigint; deltaMinor: bigint; watermark: bigint; fold?: { baseId: bigint; deltaMinor: bigint; watermark: bigint } };

/**
 * A balance read as snapshot + Redis, read from Redis first. Every fold moves the snapshot's
 * watermark along the chain of watermarks Redis had, and is a compare-and-set on the watermark it
 * builds on, so the snapshot read afterwards sits at one of the points Redis knows: the fold's base,
 * the delta's base, or the watermark (everything folded). Anywhere else - Redis lost or rolled back
 * data, or was rebuilt while a fold ran - the two do not describe the same postings: `undefined`,
 * and the caller computes the balance from Postgres postings.
 */
export function combineBalance(snapshot: BalanceSnapshot | undefined, redis: RedisBalance): bigint | undefined {
  const base = snapshot?.balanceMinor ?? 0n;
  const last = snapshot?.lastPostingId ?? 0n;
  if (last === redis.watermark) return base;
  if (last === redis.baseId) return base + redis.deltaMinor;
  if (redis.fold && last === redis.fold.baseId) return base + redis.fold.deltaMinor + redis.deltaMinor;
  return undefined;
}
