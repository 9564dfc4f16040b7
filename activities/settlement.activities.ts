/**
 * Settlement activities: import one day of the PSP's settlement report (db/settlement.ts), wake the
 * ledger streams that got SETTLEMENT facts, and make sure every seller with settled money has its
 * payout Schedule; record captures the PSP never settled.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Database } from '../db/client';
import { detectUnsettled, importSettlementReport, type FeeModel, type ImportResult } from '../db/settlement';

export type { ImportResult };
import type { MoneyOutClient } from '../psp/money-out.client';
import { PspUnavailableError } from '../psp/psp.port';

export type SettlementActivityDeps = {
  db: Database;
  moneyOut: MoneyOutClient;
  wakeLedger: (streamId: string) => Promise<void>;
  /** Creates the seller's payout Schedule if it has none (idempotent). */
  ensurePayoutSchedule: (sellerId: string) => Promise<void>;
  /** The PSP's contracted fee; without it fees are not checked. */
  feeModel?: FeeModel;
};

export function createSettlementActivities(deps: SettlementActivityDeps) {
  return {
    async importSettlementDay(date: string): Promise<ImportResult> {
      let report;
      try {
        report = await deps.moneyOut.settlementReport(date);
      } catch (err) {
        if (err instanceof PspUnavailableError) throw err; // retried by the activity's policy
        throw ApplicationFailure.create({ type: 'SettlementReportInvalid', message: (err as Error).message, nonRetryable: true });
      }
      const result = await importSettlementReport(deps.db, report, deps.feeModel);
      for (const sellerId of result.sellers) {
        await deps.wakeLedger(sellerId);
        await deps.ensurePayoutSchedule(sellerId);
      }
      return result;
    },
    async detectUnsettledSettlements(input: { olderThanS: number }): Promise<number> {
      return detectUnsettled(deps.db, { olderThanS: input.olderThanS, limit: 10_000 });
    },
  };
}
