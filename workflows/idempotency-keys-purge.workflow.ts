/**
 * Purges expired Idempotency-Keys, started by a Temporal Schedule (temporal/schedules.ts). Each
 * activity deletes one bounded batch; the workflow stops when a batch comes back short (nothing
 * older is left) or after `batchesMax` batches, leaving the rest to the next scheduled run so its
 * history stays small.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createIdempotencyActivities } from '../activities/idempotency.activities';

export type IdempotencyKeysPurgeInput = { retentionS: number; batchSize: number; batchesMax: number };
export type IdempotencyKeysPurgeResult = { deleted: number; batches: number; complete: boolean };

const { purgeExpiredIdempotencyKeys } = proxyActivities<ReturnType<typeof createIdempotencyActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function idempotencyKeysPurgeWorkflow(input: IdempotencyKeysPurgeInput): Promise<IdempotencyKeysPurgeResult> {
  let deleted = 0;
  for (let batch = 1; batch <= input.batchesMax; batch++) {
    const count = await purgeExpiredIdempotencyKeys({ retentionS: input.retentionS, batchSize: input.batchSize });
    deleted += count;
    if (count < input.batchSize) return { deleted, batches: batch, complete: true };
  }
  return { deleted, batches: input.batchesMax, complete: false };
}
