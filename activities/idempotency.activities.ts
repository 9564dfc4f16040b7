/**
 * Idempotency-Key retention: one activity deletes one bounded batch of expired keys. The purge
 * workflow calls it until a batch comes back short, so each call is one short statement and the
 * loop is visible (and resumable) in the workflow's history.
 */
import type { Database } from '../db/client';
import { deleteExpiredIdempotencyKeys } from '../db/idempotency-keys';

export type PurgeBatchInput = { retentionS: number; batchSize: number };

export function createIdempotencyActivities(deps: { db: Database }) {
  return {
    /** Deletes at most `batchSize` keys older than `retentionS`; returns how many it deleted. */
    async purgeExpiredIdempotencyKeys(input: PurgeBatchInput): Promise<number> {
      return deleteExpiredIdempotencyKeys(deps.db, input);
    },
  };
}
