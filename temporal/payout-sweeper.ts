/**
 * The payout sweeper, run by every worker beside the ledger sweeper: a payout's run is not the only
 * thing that finishes it.
 * - A payout reserved (PAYOUT_REQUESTED) whose run ended without an outcome - terminated, reset, or
 *   out of send retries after days of rail outage - would hold the seller's money forever. The
 *   sweeper sends it again with the same idempotency key: the rail pays a key once, so this either
 *   learns the outcome of the run's send or makes the one payment the reservation stands for. A
 *   reserved payout is therefore always completed; terminating its run does not cancel it.
 * - A paid payout returned after its run stopped watching (PAYOUT_RETURN_WATCH_S) is looked up
 *   again every recheck interval until PAYOUT_RETURN_HORIZON_S after it was paid, and its return is
 *   recorded (PAYOUT_RETURN entry, RETURNED).
 * Both use the run's own activities' code (activities/payout.activities.ts), so outcomes are
 * recorded the same way; recording is idempotent, so a run and a sweeper racing are harmless.
 */
import { claimPayoutsToSweep } from '../db/payouts';
import type { Database } from '../db/client';
import type { createPayoutActivities } from '../activities/payout.activities';
import type { Logger } from '../observability/logger';
import { runPeriodically } from './periodic';

export type PayoutSweeperOptions = { intervalMs: number; stuckAfterS: number; returnWatchS: number; returnHorizonS: number; recheckS: number; limit: number };

export type PayoutSweepResult = { sent: number; returned: number; failed: number };

export async function sweepPayoutsOnce(deps: { db: Database; payouts: ReturnType<typeof createPayoutActivities>; log: Logger }, options: Omit<PayoutSweeperOptions, 'intervalMs'>): Promise<PayoutSweepResult> {
  const due = await claimPayoutsToSweep(deps.db, options);
  const result: PayoutSweepResult = { sent: 0, returned: 0, failed: 0 };
  for (const payout of due) {
    try {
      if (payout.reason === 'not-sent') {
        const outcome = await deps.payouts.sendPayout(payout);
        result.sent++;
        deps.log.warn({ payoutId: payout.payoutId, sellerId: payout.sellerId, status: outcome.status }, 'payout sweeper completed a payout its run had left reserved');
      } else if (await deps.payouts.checkPayoutReturned(payout)) {
        result.returned++;
        deps.log.warn({ payoutId: payout.payoutId, sellerId: payout.sellerId }, 'payout sweeper recorded a return after the run stopped watching');
      }
    } catch (err) {
      // The rail or Postgres is down: looked up again after the recheck interval.
      result.failed++;
      deps.log.warn({ err, payoutId: payout.payoutId }, 'payout sweeper could not look a payout up; retrying later');
    }
  }
  return result;
}

export function runPayoutSweeper(deps: { db: Database; payouts: ReturnType<typeof createPayoutActivities>; log: Logger }, options: PayoutSweeperOptions): () => Promise<void> {
  const { intervalMs, ...rest } = options;
  return runPeriodically(() => sweepPayoutsOnce(deps, rest), { intervalMs, log: deps.log, what: 'payout sweep' });
}
