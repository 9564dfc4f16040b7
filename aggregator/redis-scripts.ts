/**
 * The balance store's Lua scripts, each in its own `.lua` file beside this one (read their
 * headers for KEYS and ARGV), registered on a Redis client with ioredis `defineCommand` (EVALSHA,
 * and EVAL when Redis does not know the script yet). Scripts hold no state: everything they touch
 * is passed in KEYS and ARGV.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClientContext, Redis, Result } from 'ioredis';

/** Outcome codes of apply.lua. */
export const APPLY_CODE = { duplicate: 0, applied: 1, gap: 2 } as const;
/** Outcome codes of rebuild.lua. */
export const REBUILD_CODE = { rebuilt: 1, stillStopped: 3, superseded: -1, behind: -2 } as const;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    /** apply.lua; the first argument is the number of keys. */
    balApply(...args: Array<string | number>): Result<[number, number, number, number], Context>;
    balFoldBegin(hash: string, dirty: string, stream: string, name: string): Result<[string, string, string, string, string] | null, Context>;
    balFoldEnd(hash: string, dirty: string, stream: string, name: string, foldBase: string, foldWatermark: string): Result<number, Context>;
    balFoldAbort(hash: string, stream: string, stopped: string, foldBase: string, foldWatermark: string, streamId: string): Result<number, Context>;
    /** rebuild.lua; the first argument is the number of keys. */
    balRebuild(...args: Array<string | number>): Result<number, Context>;
  }
}

const script = (file: string): string => readFileSync(path.join(__dirname, file), 'utf8');

/** Registers the scripts on a client (idempotent). */
export function defineBalanceScripts(redis: Redis): void {
  redis.defineCommand('balApply', { lua: script('apply.lua') });
  redis.defineCommand('balFoldBegin', { numberOfKeys: 3, lua: script('fold-begin.lua') });
  redis.defineCommand('balFoldEnd', { numberOfKeys: 3, lua: script('fold-end.lua') });
  redis.defineCommand('balFoldAbort', { numberOfKeys: 3, lua: script('fold-abort.lua') });
  redis.defineCommand('balRebuild', { lua: script('rebuild.lua') });
}
