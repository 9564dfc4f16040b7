/**
 * Payout activities: reserve a period's payouts (db/payouts.ts), send one to the rail with an
 * idempotency key derived from the payout id (a retried call - after a timeout, a worker crash -
 * pays at most once), record its outcome, and look a paid payout up again to see if it came back.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Database } from '../db/client';
import { reservePayouts, transitionPayout, type ReservedPayout } from '../db/payouts';

export type { ReservedPayout };
import type { MoneyOutClient } from '../psp/money-out.client';

export const payoutIdempotencyKey = (payoutId: string): string => `payout:${payoutId}`;

export type PayoutSendResult = { status: 'PAID' | 'FAILED' | 'RETURNED'; railPayoutId: string };

export function createPayoutActivities(deps: { db: Database; moneyOut: MoneyOutClient; wakeLedger: (streamId: string) => Promise<void> }) {
  const record = async (payoutId: string, to: 'PAID' | 'FAILED' | 'RETURNED', railPayoutId: string, failureCode?: string) => {
    const { sellerId } = await transitionPayout(deps.db, { payoutId, to, railPayoutId, ...(failureCode ? { failureCode } : {}) });
    if (to !== 'FAILED') await deps.wakeLedger(sellerId);
  };
  return {
    async reserveSellerPayouts(input: { sellerId: string; period: string; minMinor: string }): Promise<ReservedPayout[]> {
      return reservePayouts(deps.db, { sellerId: input.sellerId, period: input.period, minMinor: BigInt(input.minMinor) });
    },
    /** Sends the payout (or finds that it was sent) and records the outcome with its entry. */
    async sendPayout(payout: ReservedPayout): Promise<PayoutSendResult> {
      const outcome = await deps.moneyOut.createPayout({ idempotencyKey: payoutIdempotencyKey(payout.payoutId), sellerId: payout.sellerId, amountMinor: BigInt(payout.amountMinor), currency: payout.currency, reference: payout.payoutId });
      if (outcome.kind === 'not-found') throw ApplicationFailure.create({ type: 'PayoutRailInconsistent', message: 'the rail answered not-found to a payout request', nonRetryable: false });
      if (outcome.kind === 'failed') {
        await record(payout.payoutId, 'FAILED', outcome.railPayoutId, outcome.code ?? 'FAILED');
        return { status: 'FAILED', railPayoutId: outcome.railPayoutId };
      }
      await record(payout.payoutId, 'PAID', outcome.railPayoutId);
      if (outcome.kind === 'returned') {
        await record(payout.payoutId, 'RETURNED', outcome.railPayoutId);
        return { status: 'RETURNED', railPayoutId: outcome.railPayoutId };
      }
      return { status: 'PAID', railPayoutId: outcome.railPayoutId };
    },
    /** Whether a paid payout came back; records the return (PAYOUT_RETURN) when it did. */
    async checkPayoutReturned(payout: ReservedPayout): Promise<boolean> {
      const outcome = await deps.moneyOut.lookupPayout(payoutIdempotencyKey(payout.payoutId));
      if (outcome.kind !== 'returned') return false;
      await record(payout.payoutId, 'RETURNED', outcome.railPayoutId);
      return true;
    },
  };
}
