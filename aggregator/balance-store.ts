/**
 * Balances in Redis (hot deltas) and Postgres (snapshots and postings, the truth).
 *
 * Redis, under `{keyPrefix}v2:` (the `v2` segment is new with sequenced events, so the first start
 * of this version finds no state and rebuilds every stream from Postgres as it meets it):
 *   s:{stream}   hash   seq (the stream's last applied sequence), stop (set while the stream is
 *                       stopped at a gap: the highest sequence seen), fence (moves whenever
 *                       something a rebuild reads changes; rebuilds are compare-and-set on it)
 *   k:{stream}   set    the stream's balance names
 *   h:{balance}  hash   base, delta, wm: delta = sum of the balance's postings in (base, wm], where
 *                       base is the Postgres snapshot's watermark it builds on; entry, asof of wm;
 *                       fbase, fdelta, fwm, fentry, fasof: a fold in progress
 *   dirty        set    balances with something to fold        stopped   set   stopped streams
 * Stream ids and balance names are JSON-encoded (ledger/balances.ts), so every seller id maps to
 * its own keys whatever characters it holds.
 *
 * Apply (apply.lua, atomic): an event whose sequence is the stream's next is applied - all its
 * postings and the stream's sequence in one step; an earlier one is a duplicate; a later one is a
 * gap, which stops the stream (never a skip). A stream unknown to Redis accepts only sequence 1.
 *
 * Rebuild (heal) of a stopped stream: read its fence (and that no fold is in progress), read its
 * snapshots, the postings above them and its last sequence N from Postgres in one repeatable-read
 * transaction, then rebuild.lua replaces the stream's balances and sets its sequence to N - only if
 * the fence has not moved, so a rebuild that took too long cannot overwrite a newer rebuild or a
 * fold that ended meanwhile (it is retried instead). No lock is held and none can expire. Later
 * events with sequence <= N are duplicates. The stream flows again once N covers every sequence
 * seen while it was stopped; if Postgres does not hold them (it always should: events are
 * published after their commit), it stays stopped, visibly.
 *
 * Fold (the snapshot job), a compare-and-set at both ends:
 *  1. fold-begin.lua moves the delta into the fold slot (or returns the slot left by a run that
 *     crashed). Stopped streams are not folded.
 *  2. Postgres adds the fold to the snapshot only if the snapshot's watermark is the fold's base.
 *     If it already is the fold's watermark, a previous run added it. If it is anything else,
 *     Redis and Postgres disagree (Redis lost or rolled back data): fold-abort.lua puts the fold
 *     back and stops the stream, which is then rebuilt.
 *  3. fold-end.lua clears the slot if it still holds this fold.
 *
 * Reads (readSellerBalances) take Redis first, then the snapshot, and combine them only where the
 * snapshot's watermark is one Redis knows (ledger/balances.ts combineBalance); otherwise, or when
 * Redis is unavailable or does not know the stream, the balance is computed from Postgres postings.
 */
import { sql } from 'drizzle-orm';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Database } from '../db/client';
import { merchantPayable, signedAmount } from '../ledger/accounts';
import { combineBalance, decodeBalanceKey, encodeBalanceKey, encodeStreamId, type BalanceDelta, type RedisBalance } from '../ledger/balances';
import { onPostgres, onRedis } from './errors';
import { APPLY_CODE, defineBalanceScripts, REBUILD_CODE } from './redis-scripts';

/** The balance effect of summed debits and credits on an account (see ledger/accounts.ts). */
const netOf = (accountCode: string, debits: string, credits: string): bigint =>
  signedAmount(accountCode, 'DEBIT', BigInt(debits)) + signedAmount(accountCode, 'CREDIT', BigInt(credits));

/** drizzle's node-postgres driver returns timestamps of raw queries as strings. */
const iso = (value: Date | string): string => new Date(value).toISOString();

/** Runs a MULTI and returns its replies, throwing the first error among them. */
async function execAll(multi: ChainableCommander): Promise<unknown[]> {
  const replies = await multi.exec();
  if (!replies) throw new Error('the Redis transaction was aborted');
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}

export type BalanceView = { accountCode: string; currency: string; balanceMinor: bigint; lastAppliedEntryId: string; asOf: string };

export type ApplyInput = { streamId: string; sequence: number; occurredAt: string; deltas: Map<string, BalanceDelta> };
/** `wasKnown`: Redis had state for the stream (an unknown stream accepts only sequence 1; anything else is rebuilt from Postgres). */
export type ApplyResult = { outcome: 'applied' | 'duplicate' | 'gap'; appliedBefore: number; wasStopped: boolean; wasKnown: boolean };

/** A balance as a rebuild writes it. */
export type RebuiltBalance = { name: string; base: string; delta: string; watermark: string; entry: string; asOf: string };
/** What a rebuild read: the fence and names from Redis, the balances at sequence N from Postgres. */
export type RebuildPlan = { streamId: string; fence: string; oldNames: string[]; sequence: string; balances: RebuiltBalance[] };
export type RebuildOutcome = 'rebuilt' | 'still-stopped' | 'not-stopped' | 'folding' | 'superseded' | 'behind';
export type FoldOutcome = 'folded' | 'nothing' | 'conflict';

export type StreamState = { known: boolean; applied: number; stoppedAt: number | null };

/**
 * `keyPrefix` separates deployments sharing one Redis (each integration test run has its own).
 */
export function createBalanceStore(deps: { redis: Redis; db: Database; keyPrefix: string }) {
  const { redis, db } = deps;
  const P = `${deps.keyPrefix}v2:`;
  const DIRTY = `${P}dirty`;
  const STOPPED = `${P}stopped`;
  const streamKey = (streamId: string) => `${P}s:${encodeStreamId(streamId)}`;
  const namesKey = (streamId: string) => `${P}k:${encodeStreamId(streamId)}`;
  const balanceKey = (name: string) => `${P}h:${name}`;
  defineBalanceScripts(redis);

  /** Applies one event of a stream, strictly in sequence (apply.lua). */
  async function apply(input: ApplyInput): Promise<ApplyResult> {
    const names = [...input.deltas.keys()];
    const keys = [streamKey(input.streamId), namesKey(input.streamId), DIRTY, STOPPED, ...names.map(balanceKey)];
    const args: string[] = [String(input.sequence), input.occurredAt, input.streamId];
    for (const [name, d] of input.deltas) args.push(name, d.sumMinor.toString(), d.lastPostingId.toString(), d.lastEntryId);
    const [code, appliedBefore, wasStopped, wasKnown] = await onRedis(() => redis.balApply(keys.length, ...keys, ...args));
    const outcome = code === APPLY_CODE.applied ? 'applied' : code === APPLY_CODE.duplicate ? 'duplicate' : 'gap';
    return { outcome, appliedBefore, wasStopped: wasStopped === 1, wasKnown: wasKnown === 1 };
  }

  /** A stream's sequence state in Redis (for the re-drive's dry run and for tests). */
  async function streamState(streamId: string): Promise<StreamState> {
    const [seq, stop] = await onRedis(() => redis.hmget(streamKey(streamId), 'seq', 'stop'));
    return { known: seq !== null, applied: Number(seq ?? '0'), stoppedAt: stop === null ? null : Number(stop) };
  }

  /** The stream's balances at its last committed sequence, from one Postgres snapshot. */
  async function readStreamFromPostgres(streamId: string): Promise<{ sequence: string; balances: RebuiltBalance[] }> {
    return onPostgres(() =>
      db.transaction(
        async (tx) => {
          const head = await tx.execute<{ last_seq: string }>(sql`select last_seq::text from ledger_streams where stream_id = ${streamId}`);
          const snapshots = await tx.execute<{ account_code: string; currency: string; last_posting_id: string; last_entry_id: string; as_of: Date | string }>(
            sql`select account_code, currency, last_posting_id::text, last_entry_id, as_of from account_balances where stream_id = ${streamId}`,
          );
          // Every journal entry of the stream in this snapshot belongs to a batch with seq <= N:
          // a batch, its entries and the stream's head are written in one transaction.
          const tails = await tx.execute<{ account_code: string; currency: string; debits: string; credits: string; wm: string; entry: string; as_of: Date | string }>(sql`
            select p.account_code, p.currency,
                   coalesce(sum(p.amount_minor) filter (where p.direction = 'DEBIT'), 0)::text as debits,
                   coalesce(sum(p.amount_minor) filter (where p.direction = 'CREDIT'), 0)::text as credits,
                   max(p.id)::text as wm,
                   (array_agg(p.journal_entry_id order by p.id desc))[1] as entry,
                   max(je.created_at) as as_of
              from journal_entries je
              join postings p on p.journal_entry_id = je.id
              left join account_balances b on b.stream_id = je.seller_id and b.account_code = p.account_code and b.currency = p.currency
             where je.seller_id = ${streamId} and p.id > coalesce(b.last_posting_id, 0)
             group by p.account_code, p.currency`);
          const balances = new Map<string, RebuiltBalance>();
          for (const s of snapshots.rows) {
            const name = encodeBalanceKey({ accountCode: s.account_code, currency: s.currency, streamId });
            balances.set(name, { name, base: s.last_posting_id, delta: '0', watermark: s.last_posting_id, entry: s.last_entry_id, asOf: iso(s.as_of) });
          }
          for (const t of tails.rows) {
            const name = encodeBalanceKey({ accountCode: t.account_code, currency: t.currency, streamId });
            const base = balances.get(name)?.base ?? '0';
            balances.set(name, { name, base, delta: netOf(t.account_code, t.debits, t.credits).toString(), watermark: t.wm, entry: t.entry, asOf: iso(t.as_of) });
          }
          return { sequence: head.rows[0]?.last_seq ?? '0', balances: [...balances.values()] };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      ),
    );
  }

  /** Reads what a rebuild of a stopped stream needs; Redis first (the fence), then Postgres. */
  async function prepareStreamRebuild(streamId: string): Promise<RebuildPlan | 'not-stopped' | 'folding'> {
    const [state, oldNames] = (await onRedis(() => execAll(redis.multi().hmget(streamKey(streamId), 'fence', 'stop').smembers(namesKey(streamId))))) as [[string | null, string | null], string[]];
    const [fence, stop] = state;
    if (stop === null) return 'not-stopped';
    if (oldNames.length > 0) {
      const slots = (await onRedis(() => execAll(oldNames.reduce((m, n) => m.hexists(balanceKey(n), 'fwm'), redis.multi())))) as number[];
      // A fold that began before the stream stopped is still writing to Postgres: let it finish.
      if (slots.some((s) => s === 1)) return 'folding';
    }
    const fromPostgres = await readStreamFromPostgres(streamId);
    return { streamId, fence: fence ?? '0', oldNames, ...fromPostgres };
  }

  /** Writes a prepared rebuild if nothing it read has changed since (rebuild.lua). */
  async function commitStreamRebuild(plan: RebuildPlan): Promise<RebuildOutcome> {
    const keys = [streamKey(plan.streamId), namesKey(plan.streamId), DIRTY, STOPPED, ...plan.oldNames.map(balanceKey), ...plan.balances.map((b) => balanceKey(b.name))];
    const args: string[] = [plan.streamId, plan.fence, plan.sequence, String(plan.oldNames.length), ...plan.oldNames];
    for (const b of plan.balances) args.push(b.name, b.base, b.delta, b.watermark, b.entry, b.asOf);
    const code = await onRedis(() => redis.balRebuild(keys.length, ...keys, ...args));
    if (code === REBUILD_CODE.rebuilt) return 'rebuilt';
    if (code === REBUILD_CODE.stillStopped) return 'still-stopped';
    return code === REBUILD_CODE.superseded ? 'superseded' : 'behind';
  }

  /**
   * Rebuilds a stopped stream from Postgres, retrying a few times when something moved under it
   * (a fold, another rebuild, an event). Redis and Postgres errors are thrown: the stream stays
   * stopped and the caller (the healer) tries again later.
   */
  async function healStream(streamId: string, attemptsMax = 5): Promise<RebuildOutcome> {
    let outcome: RebuildOutcome = 'superseded';
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      const plan = await prepareStreamRebuild(streamId);
      outcome = plan === 'not-stopped' || plan === 'folding' ? plan : await commitStreamRebuild(plan);
      if (outcome === 'rebuilt' || outcome === 'still-stopped' || outcome === 'not-stopped') return outcome;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
    return outcome;
  }

  /** Up to `count` stopped streams, picked at random so one stream that cannot heal does not starve the others. */
  async function stoppedStreams(count = 100): Promise<string[]> {
    return onRedis(() => redis.srandmember(STOPPED, count));
  }

  async function stoppedCount(): Promise<number> {
    return onRedis(() => redis.scard(STOPPED));
  }

  /** Adds a fold to the snapshot if the snapshot is where the fold starts (compare-and-set). */
  async function writeFold(name: string, fold: { base: string; delta: string; watermark: string; entry: string; asOf: string }): Promise<'written' | 'already' | 'conflict'> {
    const key = decodeBalanceKey(name);
    return onPostgres(async () => {
      const written =
        fold.base === '0'
          ? await db.execute(sql`
              insert into account_balances (account_code, currency, stream_id, balance_minor, last_posting_id, last_entry_id, as_of, updated_at)
              values (${key.accountCode}, ${key.currency}, ${key.streamId}, ${fold.delta}::bigint, ${fold.watermark}::bigint, ${fold.entry}, ${fold.asOf}::timestamptz, now())
              on conflict (account_code, currency, stream_id) do nothing`)
          : await db.execute(sql`
              update account_balances
                 set balance_minor = balance_minor + ${fold.delta}::bigint, last_posting_id = ${fold.watermark}::bigint,
                     last_entry_id = ${fold.entry}, as_of = ${fold.asOf}::timestamptz, updated_at = now()
               where account_code = ${key.accountCode} and currency = ${key.currency} and stream_id = ${key.streamId}
                 and last_posting_id = ${fold.base}::bigint`);
      if ((written.rowCount ?? 0) === 1) return 'written';
      const current = await db.execute<{ last_posting_id: string }>(
        sql`select last_posting_id::text from account_balances where account_code = ${key.accountCode} and currency = ${key.currency} and stream_id = ${key.streamId}`,
      );
      return current.rows[0]?.last_posting_id === fold.watermark ? 'already' : 'conflict';
    });
  }

  async function foldOne(name: string): Promise<FoldOutcome> {
    const key = decodeBalanceKey(name);
    const hash = balanceKey(name);
    const stream = streamKey(key.streamId);
    const slot = await onRedis(() => redis.balFoldBegin(hash, DIRTY, stream, name));
    if (!slot) return 'nothing';
    const [base, delta, watermark, entry, asOf] = slot;
    const result = await writeFold(name, { base, delta, watermark, entry, asOf });
    if (result === 'conflict') {
      await onRedis(() => redis.balFoldAbort(hash, stream, STOPPED, base, watermark, key.streamId));
      return 'conflict';
    }
    await onRedis(() => redis.balFoldEnd(hash, DIRTY, stream, name, base, watermark));
    return 'folded';
  }

  /** One pass of the snapshot job over the dirty balances. */
  async function foldDirty(limit = 10_000): Promise<{ folded: number; conflicts: string[] }> {
    let folded = 0;
    const conflicts: string[] = [];
    let cursor = '0';
    do {
      const [next, names] = await onRedis(() => redis.sscan(DIRTY, cursor, 'COUNT', 500));
      cursor = next;
      for (const name of names) {
        if (folded + conflicts.length >= limit) return { folded, conflicts };
        const outcome = await foldOne(name);
        if (outcome === 'folded') folded += 1;
        if (outcome === 'conflict') conflicts.push(name);
      }
    } while (cursor !== '0');
    return { folded, conflicts };
  }

  type RedisView = RedisBalance & { entry: string; asOf: string };

  /** The seller's MERCHANT_PAYABLE balances in Redis by currency, or undefined when Redis does not know the stream. */
  async function readRedisBalances(sellerId: string, accountCode: string): Promise<Map<string, RedisView> | undefined> {
    const [seq, names] = (await execAll(redis.multi().hget(streamKey(sellerId), 'seq').smembers(namesKey(sellerId)))) as [string | null, string[]];
    if (seq === null) return undefined;
    const mine = names.map((name) => ({ name, key: decodeBalanceKey(name) })).filter((n) => n.key.accountCode === accountCode);
    if (mine.length === 0) return new Map();
    const rows = (await execAll(mine.reduce((m, n) => m.hmget(balanceKey(n.name), 'base', 'delta', 'wm', 'entry', 'asof', 'fbase', 'fdelta', 'fwm'), redis.multi()))) as Array<Array<string | null>>;
    const views = new Map<string, RedisView>();
    mine.forEach(({ key }, i) => {
      const [base, delta, wm, entry, asof, fbase, fdelta, fwm] = rows[i]!;
      if (wm == null || base == null) return;
      views.set(key.currency, {
        baseId: BigInt(base),
        deltaMinor: BigInt(delta ?? '0'),
        watermark: BigInt(wm),
        ...(fwm != null ? { fold: { baseId: BigInt(fbase ?? '0'), deltaMinor: BigInt(fdelta ?? '0'), watermark: BigInt(fwm) } } : {}),
        entry: entry ?? '',
        asOf: asof ?? '',
      });
    });
    return views;
  }

  type SnapshotRow = { currency: string; balance_minor: string; last_posting_id: string; last_entry_id: string; as_of: Date | string };

  /** Combines Redis (read first) and the snapshots; a currency whose two do not agree is listed in `unresolved`. */
  function combineViews(accountCode: string, fromRedis: Map<string, RedisView>, snapshotOf: Map<string, SnapshotRow>): { views: Map<string, BalanceView>; unresolved: Set<string> } {
    const views = new Map<string, BalanceView>();
    const unresolved = new Set<string>();
    for (const currency of new Set([...snapshotOf.keys(), ...fromRedis.keys()])) {
      const s = snapshotOf.get(currency);
      const r = fromRedis.get(currency);
      const combined = r ? combineBalance(s ? { balanceMinor: BigInt(s.balance_minor), lastPostingId: BigInt(s.last_posting_id) } : undefined, r) : undefined;
      if (combined === undefined) {
        unresolved.add(currency);
        continue;
      }
      const useRedis = !s || BigInt(s.last_posting_id) < r!.watermark;
      views.set(currency, { accountCode, currency, balanceMinor: combined, lastAppliedEntryId: useRedis ? r!.entry : s.last_entry_id, asOf: useRedis ? r!.asOf : iso(s.as_of) });
    }
    return { views, unresolved };
  }

  async function snapshotsOf(sellerId: string, accountCode: string): Promise<Map<string, SnapshotRow>> {
    const snapshots = await db.execute<SnapshotRow>(
      sql`select currency, balance_minor::text, last_posting_id::text, last_entry_id, as_of from account_balances where stream_id = ${sellerId} and account_code = ${accountCode}`,
    );
    return new Map(snapshots.rows.map((s) => [s.currency, s]));
  }

  /**
   * What the aggregator has applied for a seller, from Redis and the snapshots only (no fallback
   * to postings): its stream state and, per currency, the balance, or null where Redis and the
   * snapshot disagree. For checks (tests, the benchmark); merchants read readSellerBalances.
   */
  async function appliedBalances(sellerId: string): Promise<{ state: StreamState; balances: Map<string, bigint | null> }> {
    const accountCode = merchantPayable(sellerId);
    const state = await streamState(sellerId);
    const fromRedis = await onRedis(() => readRedisBalances(sellerId, accountCode));
    const { views, unresolved } = combineViews(accountCode, fromRedis ?? new Map<string, RedisView>(), await onPostgres(() => snapshotsOf(sellerId, accountCode)));
    const balances = new Map<string, bigint | null>([...views].map(([currency, v]) => [currency, v.balanceMinor]));
    for (const currency of unresolved) balances.set(currency, null);
    return { state, balances };
  }

  /** Balances of the accounts a seller owns (its MERCHANT_PAYABLE account, per currency). */
  async function readSellerBalances(sellerId: string): Promise<BalanceView[]> {
    const accountCode = merchantPayable(sellerId);
    let fromRedis: Map<string, RedisView> | undefined;
    try {
      fromRedis = await readRedisBalances(sellerId, accountCode);
    } catch {
      fromRedis = undefined; // Redis unavailable: answer from Postgres alone
    }
    const snapshotOf = await snapshotsOf(sellerId, accountCode);
    const { views, unresolved: fromPostgres } = fromRedis ? combineViews(accountCode, fromRedis, snapshotOf) : { views: new Map<string, BalanceView>(), unresolved: new Set<string>() };
    if (fromRedis === undefined || fromPostgres.size > 0) {
      // The truth, straight from the ledger: snapshot plus every posting above its watermark, in
      // one statement (one snapshot: a fold committing in between cannot drop or double postings).
      const rows = await db.execute<{ currency: string; balance_minor: string | null; last_entry_id: string | null; as_of: Date | string | null; debits: string | null; credits: string | null; entry: string | null; tail_as_of: Date | string | null }>(sql`
        with snap as (
          select currency, balance_minor, last_posting_id, last_entry_id, as_of from account_balances where stream_id = ${sellerId} and account_code = ${accountCode}
        ), tail as (
          select p.currency,
                 coalesce(sum(p.amount_minor) filter (where p.direction = 'DEBIT'), 0)::text as debits,
                 coalesce(sum(p.amount_minor) filter (where p.direction = 'CREDIT'), 0)::text as credits,
                 (array_agg(p.journal_entry_id order by p.id desc))[1] as entry,
                 max(je.created_at) as as_of
            from postings p
            join journal_entries je on je.id = p.journal_entry_id
            left join snap b on b.currency = p.currency
           where p.account_code = ${accountCode} and je.seller_id = ${sellerId} and p.id > coalesce(b.last_posting_id, 0)
           group by p.currency
        )
        select coalesce(s.currency, t.currency) as currency, s.balance_minor::text, s.last_entry_id, s.as_of, t.debits, t.credits, t.entry, t.as_of as tail_as_of
          from snap s full join tail t on t.currency = s.currency`);
      for (const row of rows.rows) {
        if (fromRedis !== undefined && !fromPostgres.has(row.currency)) continue;
        const tail = row.debits !== null ? netOf(accountCode, row.debits, row.credits ?? '0') : 0n;
        views.set(row.currency, {
          accountCode,
          currency: row.currency,
          balanceMinor: BigInt(row.balance_minor ?? '0') + tail,
          lastAppliedEntryId: row.entry ?? row.last_entry_id ?? '',
          asOf: iso((row.tail_as_of ?? row.as_of)!),
        });
      }
    }
    return [...views.values()].sort((a, b) => a.currency.localeCompare(b.currency));
  }

  return { apply, streamState, prepareStreamRebuild, commitStreamRebuild, healStream, stoppedStreams, stoppedCount, foldOne, foldDirty, readSellerBalances, appliedBalances };
}

export type BalanceStore = ReturnType<typeof createBalanceStore>;
