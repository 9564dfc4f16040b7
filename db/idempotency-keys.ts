/**
 * Retention of Idempotency-Keys: a key lives IDEMPOTENCY_KEY_RETENTION_S after its first request.
 * The predicate is written once and used by both sides - the API's claim, which treats an expired
 * key as absent, and the purge activity that deletes expired keys.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Database } from './client';
import { idempotencyKeys } from './schema';

/**
 * True for a key past its retention (counted from its first request). An IN_FLIGHT row whose
 * lease has not run out is never expired, so neither a takeover nor the purge can pull a key from
 * under a request still running (the configuration also requires retention > lease).
 */
export const idempotencyKeyExpired = (retentionS: number): SQL =>
  sql`(${idempotencyKeys.createdAt} <= now() - make_interval(secs => ${retentionS}) and (${idempotencyKeys.status} = 'COMPLETED' or ${idempotencyKeys.lockedUntil} <= now()))`;

/**
 * Deletes at most `batchSize` expired keys, oldest first, in one short statement (rows another
 * transaction holds are skipped, not waited for); returns how many it deleted.
 */
export async function deleteExpiredIdempotencyKeys(db: Database, options: { retentionS: number; batchSize: number }): Promise<number> {
  const result = await db.execute(sql`
    delete from ${idempotencyKeys}
     where (${idempotencyKeys.principal}, ${idempotencyKeys.key}) in (
       select ${idempotencyKeys.principal}, ${idempotencyKeys.key} from ${idempotencyKeys}
        where ${idempotencyKeyExpired(options.retentionS)}
        order by ${idempotencyKeys.createdAt}
        limit ${options.batchSize}
        for update skip locked)`);
  return result.rowCount ?? 0;
}
