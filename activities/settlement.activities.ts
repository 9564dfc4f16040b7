/**
 * Settlement activities: import one day of the PSP's settlement report (db/settlement.ts), wake the
 * ledger streams that got SETTLEMENT facts, and make sure every seller with settled money has its
 * payout Schedule; record captures the PSP never settled.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Database } from '../db/client';
import { detectUnsettled, importSettlementReport, payoutAccountsWithoutSchedule, rematchUnknownItems, sellersWithoutPayoutSchedule, type FeeModel, type ImportResult } from '../db/settlement';

/**
 * What an imported day returns to the workflow: counts only (a day may settle for thousands of
 * sellers; their ids stay in the activity, which wakes their ledgers and ensures their payout
 * Schedules).
 */
export type ImportDaySummary = Omit<ImportResult, 'sellers'> & { sellers: number };
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
    async importSettlementDay(date: string): Promise<ImportDaySummary> {
      let report;
      try {
        report = await deps.moneyOut.settlementReport(date);
      } catch (err) {
        if (err instanceof PspUnavailableError) throw err; // retried by the activity's policy
        throw ApplicationFailure.create({ type: 'SettlementReportInvalid', message: (err as Error).message, nonRetryable: true });
      }
      const result = await importSettlementReport(deps.db, report, deps.feeModel);
      for (const sellerId of result.sellers) await deps.wakeLedger(sellerId);
      // A seller's payout Schedule is created once (ensureAllPayoutSchedules brings back one an
      // operator deleted, at worker start): skip sellers that already have theirs.
      for (const sellerId of await sellersWithoutPayoutSchedule(deps.db, result.sellers)) await deps.ensurePayoutSchedule(sellerId);
      return { ...result, sellers: result.sellers.length };
    },
    /**
     * Reconciliation after the imports: first items once unknown that now name one of ours are
     * matched (and settled when they agree), then captures and refunds unsettled too long are
     * recorded. (The activity keeps its name: running workflows call it.)
     */
    async detectUnsettledSettlements(input: { olderThanS: number }): Promise<number> {
      for (let round = 0; round < 10; round++) {
        const rematched = await rematchUnknownItems(deps.db, { limit: 1_000, ...(deps.feeModel ? { feeModel: deps.feeModel } : {}) });
        for (const sellerId of rematched.sellers) await deps.wakeLedger(sellerId);
        if (rematched.rematched < 1_000) break;
      }
      // Every payout account still without its Schedule gets it here: sellers first settled by the
      // rematch above, by an operator's acceptance, or by an import whose Schedule step failed.
      for (const sellerId of await payoutAccountsWithoutSchedule(deps.db, 1_000)) await deps.ensurePayoutSchedule(sellerId);
      return detectUnsettled(deps.db, { olderThanS: input.olderThanS, limit: 10_000 });
    },
  };
}
