/**
 * Balances in Redis (hot deltas) and Postgres (snapshots, the truth).
 *
 * Redis, per balance key (account|currency|stream), one hash:
 *   delta, wm, entry, asof       postings applied since the last fold, the watermark (last posting id)
 *   fdelta, fwm, fentry, fasof   a fold in progress (moved out of delta, not yet confirmed in Postgres)
 *   folded_wm                    the watermark of the last confirmed fold
 * plus the dirty set (keys with something to fold), a set of keys per stream, and an epoch.
 *
 * Apply (Lua, atomic): a posting above the watermark is added to delta, the watermark advances and
 * the key is marked dirty, in one step; a posting at or below it is a duplicate and ignored.
 *
 * Fold (the snapshot job), unlike the reference design, never loses money:
 *  1. Lua moves delta into the fold slot (or returns the pending fold, if an earlier one was not
 *     confirmed); new postings keep accumulating in a fresh delta.
 *  2. Postgres adds the fold to the snapshot only if the snapshot's watermark is below the fold's;
 *     if it is not, this fold was already added (a crash between steps 2 and 3) and is not added
 *     again.
 *  3. Lua clears the fold slot, and removes the key from the dirty set when nothing new arrived.
 * A failure anywhere leaves the fold slot in Redis, and the next run repeats from step 1.
 *
 * Losing Redis (FLUSHALL, restart without persistence) removes the epoch key. Appliers then stop
 * and one instance rebuilds every key from Postgres: snapshot watermark plus the postings above it,
 * then sets a new epoch. Reads while the epoch is missing are computed from Postgres alone.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { ClientContext, Redis, Result } from 'ioredis';
import type { Database } from '../db/client';
import { signedAmount } from '../ledger/accounts';
import { combineBalance, decodeBalanceKey, encodeBalanceKey, type PostingDelta } from '../ledger/balances';


// Posting ids are compared as decimal strings (length first, then lexicographically), so they are
// exact whatever their size; Lua numbers are doubles.
/** The balance effect of summed debits and credits on an account (see ledger/accounts.ts). */
const netOf = (accountCode: string, debits: string, credits: string): bigint =>
  signedAmount(accountCode, 'DEBIT', BigInt(debits)) + signedAmount(accountCode, 'CREDIT', BigInt(credits));

/** drizzle's node-postgres driver returns timestamps of raw queries as strings. */
const iso = (value: Date | string): string => new Date(value).toISOString();

const LUA_GT = `local function gt(a, b) if #a ~= #b then return #a > #b end return a > b end`;

const APPLY = `${LUA_GT}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local asof = ARGV[2]
local i = 3
local applied = 0
for k = 4, #KEYS do
  local h = KEYS[k]
  local name = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  local wm = redis.call('HGET', h, 'wm') or '0'
  local touched = false
  for j = 1, n do
    local pid, amt, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    if gt(pid, wm) then
      redis.call('HINCRBY', h, 'delta', amt)
      wm = pid
      redis.call('HSET', h, 'wm', pid, 'entry', entry, 'asof', asof)
      applied = applied + 1
      touched = true
    end
  end
  if touched then
    redis.call('SADD', KEYS[2], name)
    redis.call('SADD', KEYS[3], name)
  end
end
return applied`;

const BEGIN_FOLD = `
if redis.call('HEXISTS', KEYS[1], 'fwm') == 1 then
  return redis.call('HMGET', KEYS[1], 'fdelta', 'fwm', 'fentry', 'fasof')
end
local wm = redis.call('HGET', KEYS[1], 'wm')
local delta = redis.call('HGET', KEYS[1], 'delta') or '0'
if not wm or (delta == '0' and redis.call('HGET', KEYS[1], 'folded_wm') == wm) then
  redis.call('SREM', KEYS[2], ARGV[1])
  return false
end
local entry = redis.call('HGET', KEYS[1], 'entry')
local asof = redis.call('HGET', KEYS[1], 'asof')
redis.call('HSET', KEYS[1], 'fdelta', delta, 'fwm', wm, 'fentry', entry, 'fasof', asof, 'delta', '0')
return {delta, wm, entry, asof}`;

const END_FOLD = `
if redis.call('HGET', KEYS[1], 'fwm') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'fdelta', 'fwm', 'fentry', 'fasof')
  redis.call('HSET', KEYS[1], 'folded_wm', ARGV[2])
end
if (redis.call('HGET', KEYS[1], 'delta') or '0') == '0' and redis.call('HGET', KEYS[1], 'wm') == ARGV[2] then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: "default" }> {
    balApply(...args: Array<string | number>): Result<number, Context>;
    balBeginFold(hash: string, dirty: string, name: string): Result<[string, string, string, string] | null, Context>;
    balEndFold(hash: string, dirty: string, name: string, watermark: string): Result<number, Context>;
  }
}

export type BalanceView = { accountCode: string; currency: string; balanceMinor: bigint; lastAppliedEntryId: string; asOf: string };

export class EpochMissingError extends Error {
  override readonly name = 'EpochMissingError';
}

/**
 * `keyPrefix` separates deployments sharing one Redis (each integration test run has its own).
 */
export function createBalanceStore(deps: { redis: Redis; db: Database; keyPrefix: string }) {
  const { redis, db } = deps;
  const PREFIX = deps.keyPrefix;
  const EPOCH = `${PREFIX}epoch`;
  const DIRTY = `${PREFIX}dirty`;
  const LOCK = `${PREFIX}rebuild-lock`;
  const hashKey = (key: string) => `${PREFIX}h:${key}`;
  const streamSet = (streamId: string) => `${PREFIX}stream:${streamId}`;
  redis.defineCommand('balApply', { lua: APPLY });
  redis.defineCommand('balBeginFold', { numberOfKeys: 2, lua: BEGIN_FOLD });
  redis.defineCommand('balEndFold', { numberOfKeys: 2, lua: END_FOLD });
  let epoch: string | null = null;

  /** Rebuilds Redis from Postgres if its epoch is missing; returns the current epoch. */
  async function ensureEpoch(): Promise<string> {
    const current = await redis.get(EPOCH);
    if (current) return (epoch = current);
    const token = randomUUID();
    if ((await redis.set(LOCK, token, 'PX', 120_000, 'NX')) !== 'OK') {
      throw new EpochMissingError('balances are being rebuilt from Postgres by another instance');
    }
    try {
      await rebuild();
      const next = randomUUID();
      await redis.set(EPOCH, next);
      return (epoch = next);
    } finally {
      if ((await redis.get(LOCK)) === token) await redis.del(LOCK);
    }
  }

  async function rebuild(): Promise<void> {
    // Remove anything left from before (a partial loss), then write every key Postgres knows.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      const stale = keys.filter((k) => k !== LOCK);
      if (stale.length > 0) await redis.del(...stale);
    } while (cursor !== '0');

    const snapshots = await db.execute<{ account_code: string; currency: string; stream_id: string; last_posting_id: string; last_entry_id: string; as_of: Date | string }>(
      sql`select account_code, currency, stream_id, last_posting_id::text, last_entry_id, as_of from account_balances`,
    );
    const tails = await db.execute<{ account_code: string; currency: string; stream_id: string; debits: string; credits: string; wm: string; entry: string; as_of: Date | string }>(sql`
      select p.account_code, p.currency, je.seller_id as stream_id,
             coalesce(sum(p.amount_minor) filter (where p.direction = 'DEBIT'), 0)::text as debits,
             coalesce(sum(p.amount_minor) filter (where p.direction = 'CREDIT'), 0)::text as credits,
             max(p.id)::text as wm,
             (array_agg(p.journal_entry_id order by p.id desc))[1] as entry,
             max(je.created_at) as as_of
        from postings p
        join journal_entries je on je.id = p.journal_entry_id
        left join account_balances b on b.account_code = p.account_code and b.currency = p.currency and b.stream_id = je.seller_id
       where p.id > coalesce(b.last_posting_id, 0)
       group by p.account_code, p.currency, je.seller_id`);
    const pipeline = redis.multi();
    for (const s of snapshots.rows) {
      const name = encodeBalanceKey({ accountCode: s.account_code, currency: s.currency, streamId: s.stream_id });
      pipeline.hset(hashKey(name), 'delta', '0', 'wm', s.last_posting_id, 'folded_wm', s.last_posting_id, 'entry', s.last_entry_id, 'asof', iso(s.as_of));
      pipeline.sadd(streamSet(s.stream_id), name);
    }
    for (const t of tails.rows) {
      const name = encodeBalanceKey({ accountCode: t.account_code, currency: t.currency, streamId: t.stream_id });
      const delta = netOf(t.account_code, t.debits, t.credits);
      pipeline.hset(hashKey(name), 'delta', delta.toString(), 'wm', t.wm, 'entry', t.entry, 'asof', iso(t.as_of));
      pipeline.sadd(streamSet(t.stream_id), name);
      pipeline.sadd(DIRTY, name);
    }
    await pipeline.exec();
  }

  /** Applies one event's postings; returns how many were new. */
  async function apply(deltas: Map<string, PostingDelta[]>, streamId: string, asOf: string): Promise<number> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = epoch ?? (await ensureEpoch());
      const keys = [EPOCH, DIRTY, streamSet(streamId), ...[...deltas.keys()].map(hashKey)];
      const args: string[] = [current, asOf];
      for (const [name, list] of deltas) {
        args.push(name, String(list.length));
        for (const d of list) args.push(d.postingId.toString(), d.signedMinor.toString(), d.entryId);
      }
      const applied = await redis.balApply(keys.length, ...keys, ...args);
      if (applied >= 0) return applied;
      epoch = null; // Redis lost its data or was rebuilt: rebuild or pick up the new epoch, then retry
      await ensureEpoch();
    }
    throw new EpochMissingError('the balance epoch changed twice while applying one event');
  }

  /** One pass of the snapshot job over the dirty keys; returns how many folds were written. */
  async function foldDirty(limit = 10_000): Promise<number> {
    let folded = 0;
    let cursor = '0';
    do {
      const [next, names] = await redis.sscan(DIRTY, cursor, 'COUNT', 500);
      cursor = next;
      for (const name of names) {
        if (folded >= limit) return folded;
        if (await foldOne(name)) folded += 1;
      }
    } while (cursor !== '0');
    return folded;
  }

  async function foldOne(name: string): Promise<boolean> {
    const fold = await redis.balBeginFold(hashKey(name), DIRTY, name);
    if (!fold) return false;
    const [delta, watermark, entry, asOf] = fold;
    const key = decodeBalanceKey(name);
    await db.execute(sql`
      insert into account_balances (account_code, currency, stream_id, balance_minor, last_posting_id, last_entry_id, as_of, updated_at)
      values (${key.accountCode}, ${key.currency}, ${key.streamId}, ${delta}::bigint, ${watermark}::bigint, ${entry}, ${asOf}::timestamptz, now())
      on conflict (account_code, currency, stream_id) do update
        set balance_minor = account_balances.balance_minor + excluded.balance_minor,
            last_posting_id = excluded.last_posting_id,
            last_entry_id = excluded.last_entry_id,
            as_of = excluded.as_of,
            updated_at = now()
      where account_balances.last_posting_id < excluded.last_posting_id`);
    await redis.balEndFold(hashKey(name), DIRTY, name, watermark);
    return true;
  }

  /** Balances of the accounts a seller owns (its MERCHANT_PAYABLE account, per currency). */
  async function readSellerBalances(sellerId: string): Promise<BalanceView[]> {
    const accountCode = `MERCHANT_PAYABLE.${sellerId}`;
    let redisState: Map<string, { deltaMinor: bigint; watermark: bigint; foldingMinor: bigint; foldingWatermark: bigint; entry: string; asOf: string }> | undefined;
    try {
      if (await redis.get(EPOCH)) {
        redisState = new Map();
        const names = (await redis.smembers(streamSet(sellerId))).filter((n) => decodeBalanceKey(n).accountCode === accountCode);
        for (const name of names) {
          const [delta, wm, fdelta, fwm, entry, asof] = await redis.hmget(hashKey(name), 'delta', 'wm', 'fdelta', 'fwm', 'entry', 'asof');
          if (!wm) continue;
          redisState.set(name, { deltaMinor: BigInt(delta ?? '0'), watermark: BigInt(wm), foldingMinor: BigInt(fdelta ?? '0'), foldingWatermark: BigInt(fwm ?? '0'), entry: entry ?? '', asOf: asof ?? '' });
        }
      }
    } catch {
      redisState = undefined; // Redis unavailable: answer from Postgres alone
    }
    const snapshots = await db.execute<{ currency: string; balance_minor: string; last_posting_id: string; last_entry_id: string; as_of: Date | string }>(
      sql`select currency, balance_minor::text, last_posting_id::text, last_entry_id, as_of from account_balances where stream_id = ${sellerId} and account_code = ${accountCode}`,
    );
    const views = new Map<string, BalanceView>();
    if (redisState) {
      const byName = new Map(snapshots.rows.map((s) => [encodeBalanceKey({ accountCode, currency: s.currency, streamId: sellerId }), s]));
      for (const name of new Set([...byName.keys(), ...redisState.keys()])) {
        const s = byName.get(name);
        const r = redisState.get(name);
        const balanceMinor = combineBalance(s ? { balanceMinor: BigInt(s.balance_minor), lastPostingId: BigInt(s.last_posting_id) } : undefined, r);
        const useRedis = r && (!s || BigInt(s.last_posting_id) < r.watermark);
        views.set(name, {
          accountCode,
          currency: decodeBalanceKey(name).currency,
          balanceMinor,
          lastAppliedEntryId: useRedis ? r.entry : s!.last_entry_id,
          asOf: useRedis ? r.asOf : iso(s!.as_of),
        });
      }
    } else {
      // The truth, straight from the ledger: snapshot plus every posting above its watermark.
      const rows = await db.execute<{ currency: string; debits: string; credits: string; entry: string | null; as_of: Date | string | null }>(sql`
        select p.currency,
               coalesce(sum(p.amount_minor) filter (where p.direction = 'DEBIT'), 0)::text as debits,
               coalesce(sum(p.amount_minor) filter (where p.direction = 'CREDIT'), 0)::text as credits,
               (array_agg(p.journal_entry_id order by p.id desc))[1] as entry,
               max(je.created_at) as as_of
          from postings p
          join journal_entries je on je.id = p.journal_entry_id
          left join account_balances b on b.account_code = p.account_code and b.currency = p.currency and b.stream_id = je.seller_id
         where p.account_code = ${accountCode} and je.seller_id = ${sellerId} and p.id > coalesce(b.last_posting_id, 0)
         group by p.currency`);
      const tails = new Map(rows.rows.map((r) => [r.currency, r]));
      for (const currency of new Set([...snapshots.rows.map((s) => s.currency), ...tails.keys()])) {
        const s = snapshots.rows.find((x) => x.currency === currency);
        const t = tails.get(currency);
        const tail = t ? netOf(accountCode, t.debits, t.credits) : 0n;
        views.set(currency, {
          accountCode,
          currency,
          balanceMinor: BigInt(s?.balance_minor ?? '0') + tail,
          lastAppliedEntryId: t?.entry ?? s!.last_entry_id,
          asOf: iso(t?.as_of ?? s!.as_of),
        });
      }
    }
    return [...views.values()].sort((a, b) => a.currency.localeCompare(b.currency));
  }

  return { ensureEpoch, apply, foldDirty, foldOne, readSellerBalances };
}

export type BalanceStore = ReturnType<typeof createBalanceStore>;
