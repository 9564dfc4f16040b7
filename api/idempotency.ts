/**
 * Idempotency-Key semantics, shared by every command of the API (checkout, cancel, refund), keys
 * scoped to the caller's JWT subject:
 * - the first request claims the key (a row IN_FLIGHT with a lease) and fixes the payment it is
 *   about (checkout: the new payment's id, chosen before the PSP is called; cancel and refund: the
 *   payment in the URL);
 * - a request with the same key while the first is in flight gets 409;
 * - a request with the same key and a different request gets 422 (the hash covers the operation,
 *   so a key used for a checkout cannot be replayed as a refund);
 * - once completed, the same key replays the first response with `Idempotent-Replayed: true`;
 * - if the first request died in flight, its lease expires and the next request with the key takes
 *   it over with the same payment id (for a checkout: the same PSP authorization key, so the card
 *   is not held twice).
 * Concurrent requests with one key race on the primary key of `idempotency_keys`; exactly one wins.
 * The response is recorded in the transaction of the command (`complete`), so a command is either
 * done and replayable, or not done at all.
 *
 * Keys are kept for IDEMPOTENCY_KEY_RETENTION_S (default 7 days) after their first request; a key
 * reused after that is a new request. A Temporal Schedule deletes expired keys
 * (temporal/schedules.ts); until it has, `claim` treats them as absent.
 */
import { createHash } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { isUniqueViolation } from '../db/errors';
import { idempotencyKeyExpired } from '../db/idempotency-keys';
import type { Executor } from '../db/ledger-facts';
import { idempotencyKeys } from '../db/schema';
import { Problem } from './problem';

export type HttpOutcome = { status: number; body: Record<string, unknown>; replayed: boolean; location?: string };

/** Key order must not change the hash: `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (body: unknown): string => createHash('sha256').update(canonicalJson(body)).digest('hex');

const inFlight = () => new Problem(409, 'idempotency-key-in-flight', 'Request in flight', 'A request with this Idempotency-Key is being processed; retry shortly.', {}, { 'Retry-After': '1' });

export type IdempotentCommand = {
  principal: string;
  key: string;
  /** requestHash of what identifies the request (operation and body). */
  hash: string;
  /** The payment the request is about (a fresh id for a checkout). */
  paymentId: string;
  /** Where a completed response points (its Location header), from its body. */
  locationOf: (status: number, body: Record<string, unknown>) => string | undefined;
  /**
   * What a failed attempt leaves: 'keep' the key (and its payment id) for the retry - a checkout,
   * whose PSP authorization may have happened under that id - or 'forget' it, for commands with no
   * effect outside their transaction (a refused refund leaves nothing behind, not even its key).
   */
  onFailure: 'keep' | 'forget';
};

export function createIdempotency(deps: { db: Database; leaseMs: number; retentionS: number }) {
  const { db } = deps;
  const keyWhere = (principal: string, key: string) => and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key));
  const lease = () => sql`now() + make_interval(secs => ${deps.leaseMs / 1000})`;

  const replay = (cmd: IdempotentCommand, row: { responseStatus: number | null; responseBody: unknown }): HttpOutcome => {
    const body = row.responseBody as Record<string, unknown>;
    const location = cmd.locationOf(row.responseStatus!, body);
    return { status: row.responseStatus!, body, replayed: true, ...(location ? { location } : {}) };
  };

  /** Claims the key, or explains why not; returns the payment id this request must use. */
  async function claim(cmd: IdempotentCommand): Promise<{ paymentId: string } | { outcome: HttpOutcome }> {
    // A key past its retention is absent, whether or not the purge has deleted it yet: the row is
    // taken over as if new. The conflict's WHERE makes that atomic - of two requests racing for
    // one expired key, the second sees the row already renewed.
    const inserted = await db
      .insert(idempotencyKeys)
      .values({ principal: cmd.principal, key: cmd.key, requestHash: cmd.hash, status: 'IN_FLIGHT', paymentId: cmd.paymentId, lockedUntil: lease() })
      .onConflictDoUpdate({
        target: [idempotencyKeys.principal, idempotencyKeys.key],
        set: { requestHash: cmd.hash, status: 'IN_FLIGHT', paymentId: cmd.paymentId, responseStatus: null, responseBody: null, lockedUntil: lease(), createdAt: sql`now()`, completedAt: null },
        setWhere: idempotencyKeyExpired(deps.retentionS),
      })
      .returning({ paymentId: idempotencyKeys.paymentId });
    if (inserted.length === 1) return { paymentId: cmd.paymentId };

    const [existing] = await db
      .select({ requestHash: idempotencyKeys.requestHash, status: idempotencyKeys.status, responseStatus: idempotencyKeys.responseStatus, responseBody: idempotencyKeys.responseBody, expired: sql<boolean>`${idempotencyKeys.lockedUntil} <= now()` })
      .from(idempotencyKeys)
      .where(keyWhere(cmd.principal, cmd.key));
    if (!existing) throw inFlight();
    if (existing.requestHash !== cmd.hash) {
      throw new Problem(422, 'idempotency-key-reused', 'Idempotency-Key reused', 'This Idempotency-Key was already used with a different request.');
    }
    if (existing.status === 'COMPLETED') return { outcome: replay(cmd, existing) };
    if (existing.expired) {
      const [taken] = await db
        .update(idempotencyKeys)
        .set({ lockedUntil: lease() })
        .where(and(keyWhere(cmd.principal, cmd.key), eq(idempotencyKeys.status, 'IN_FLIGHT'), sql`${idempotencyKeys.lockedUntil} <= now()`))
        .returning({ paymentId: idempotencyKeys.paymentId });
      if (taken) return { paymentId: taken.paymentId };
    }
    throw inFlight();
  }

  /** Records the response in the command's transaction; throws if another request completed the key. */
  async function complete(tx: Executor, cmd: IdempotentCommand, paymentId: string, outcome: HttpOutcome): Promise<void> {
    const completed = await tx
      .update(idempotencyKeys)
      .set({ status: 'COMPLETED', responseStatus: outcome.status, responseBody: outcome.body, completedAt: sql`now()` })
      .where(and(keyWhere(cmd.principal, cmd.key), eq(idempotencyKeys.paymentId, paymentId), eq(idempotencyKeys.status, 'IN_FLIGHT')))
      .returning({ key: idempotencyKeys.key });
    if (completed.length !== 1) throw new Error(`idempotency record for ${paymentId} was completed by another request`);
  }

  /**
   * Runs a command under its key: claim, run (whose transaction calls `complete`), and on failure
   * give the key back at once (kept with its payment id, or forgotten: `onFailure`) so the client's
   * retry proceeds instead of waiting out the lease. If the lease ran out and another request with the key completed it
   * first, that request's response is replayed.
   */
  async function run(cmd: IdempotentCommand, command: (paymentId: string) => Promise<HttpOutcome>): Promise<HttpOutcome> {
    const claimed = await claim(cmd);
    if ('outcome' in claimed) return claimed.outcome;
    try {
      return await command(claimed.paymentId);
    } catch (err) {
      if (isUniqueViolation(err) || (err instanceof Error && err.message.includes('completed by another request'))) {
        const [row] = await db.select({ status: idempotencyKeys.status, responseStatus: idempotencyKeys.responseStatus, responseBody: idempotencyKeys.responseBody }).from(idempotencyKeys).where(keyWhere(cmd.principal, cmd.key));
        if (row?.status === 'COMPLETED') return replay(cmd, row);
        throw inFlight();
      }
      const mine = and(keyWhere(cmd.principal, cmd.key), eq(idempotencyKeys.status, 'IN_FLIGHT'), eq(idempotencyKeys.requestHash, cmd.hash));
      await (cmd.onFailure === 'forget' ? db.delete(idempotencyKeys).where(mine) : db.update(idempotencyKeys).set({ lockedUntil: sql`now()` }).where(mine)).catch(() => undefined);
      throw err;
    }
  }

  return { run, complete };
}

export type Idempotency = ReturnType<typeof createIdempotency>;
