/**
 * Settlement, started by a Temporal Schedule: imports the PSP's settlement report of today and of
 * the `lookbackDays` before it (a report of a past day may still grow while items settle; the
 * import is idempotent, so importing a day again adds only what is new), then records captures and
 * refunds that stayed unsettled too long. Mismatches are recorded, never acted upon.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { createSettlementActivities } from '../activities/settlement.activities';
import type { ImportDaySummary } from '../activities/settlement.activities';

const settlement = proxyActivities<ReturnType<typeof createSettlementActivities>>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10, nonRetryableErrorTypes: ['SettlementReportInvalid'] },
});

export type SettlementInput = { lookbackDays: number; unsettledAfterS: number };
export type SettlementSummary = { days: ImportDaySummary[]; unsettled: number };

const DAY_MS = 86_400_000;

export async function settlementWorkflow(input: SettlementInput): Promise<SettlementSummary> {
  const days: ImportDaySummary[] = [];
  const today = Date.now(); // workflow time: deterministic on replay
  for (let back = Math.max(0, Math.min(input.lookbackDays, 30)); back >= 0; back--) {
    const date = new Date(today - back * DAY_MS).toISOString().slice(0, 10);
    days.push(await settlement.importSettlementDay(date));
  }
  const unsettled = await settlement.detectUnsettledSettlements({ olderThanS: input.unsettledAfterS });
  return { days, unsettled };
}
