/**
 * One seller's payout run, started by the seller's Temporal Schedule. It reserves what is available
 * (in Postgres, under the seller's lock: never more than available, whatever refunds do meanwhile),
 * sends each payout to the rail with an idempotency key, records PAID (PAYOUT entry) or FAILED, and
 * then watches a paid payout for a return (PAYOUT_RETURN entry, RETURNED) for `returnWatchS`.
 *
 * The period is the run's workflow id (the Schedule makes it unique per scheduled time): a payout is
 * reserved at most once per period (a unique constraint), so a worker killed mid-run, a retried
 * activity or a replay never pays a period twice.
 */
import { proxyActivities, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createPayoutActivities } from '../activities/payout.activities';
import type { ReservedPayout } from '../activities/payout.activities';
import { SA_PAYOUT_STATUS, SA_SELLER_ID } from './contracts';

const payouts = proxyActivities<ReturnType<typeof createPayoutActivities>>({
  startToCloseTimeout: '1m',
  // About three days of attempts at the 5-minute cap: a rail or database outage delays a payout, it does not fail it.
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 1_000 },
});

export type PayoutInput = { sellerId: string; minMinor: string; returnWatchS: number; returnPollS: number };
export type PayoutRunSummary = { period: string; payouts: Array<ReservedPayout & { outcome: string }> };

export async function payoutWorkflow(input: PayoutInput): Promise<PayoutRunSummary> {
  const period = workflowInfo().workflowId;
  upsertSearchAttributes([{ key: SA_SELLER_ID, value: input.sellerId }]);
  const reserved = await payouts.reserveSellerPayouts({ sellerId: input.sellerId, period, minMinor: input.minMinor });
  const results: PayoutRunSummary['payouts'] = [];
  if (reserved.length === 0) {
    upsertSearchAttributes([{ key: SA_PAYOUT_STATUS, value: 'NOTHING_AVAILABLE' }]);
    return { period, payouts: results };
  }
  const watching: ReservedPayout[] = [];
  for (const payout of reserved) {
    const sent = payout.status === 'PAYOUT_REQUESTED' ? (await payouts.sendPayout(payout)).status : payout.status;
    results.push({ ...payout, outcome: sent });
    if (sent === 'PAID') watching.push(payout);
  }
  upsertSearchAttributes([{ key: SA_PAYOUT_STATUS, value: results.map((r) => r.outcome).join(',') }]);
  // Bounded: at most returnWatchS / returnPollS checks per payout.
  const polls = input.returnPollS > 0 ? Math.min(1_000, Math.floor(input.returnWatchS / input.returnPollS)) : 0;
  for (let i = 0; i < polls && watching.length > 0; i++) {
    await sleep(input.returnPollS * 1_000);
    for (const payout of [...watching]) {
      if (await payouts.checkPayoutReturned(payout)) {
        watching.splice(watching.indexOf(payout), 1);
        const r = results.find((x) => x.payoutId === payout.payoutId);
        if (r) r.outcome = 'RETURNED';
        upsertSearchAttributes([{ key: SA_PAYOUT_STATUS, value: results.map((x) => x.outcome).join(',') }]);
      }
    }
  }
  return { period, payouts: results };
}
