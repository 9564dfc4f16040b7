/**
 * Ledger verification, started by a Temporal Schedule every few minutes: one activity runs every
 * invariant check against Postgres and records the result. A violation is not a failure of this
 * workflow (it completes, with the summary); it is counted in `payorch_ledger_invariant_violations`
 * and alerted on, and `npm run -s ledger:repair` is the tool that fixes what can be re-derived.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { createLedgerVerificationActivities, LedgerVerificationSummary } from '../activities/ledger-verification.activities';

const checks = proxyActivities<ReturnType<typeof createLedgerVerificationActivities>>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

export async function ledgerVerificationWorkflow(): Promise<LedgerVerificationSummary> {
  const summary = await checks.verifyAndRecordLedger();
  if (!summary.ok) log.error('ledger invariants violated', { violations: summary.violations, failedChecks: summary.failedChecks.join('; ') });
  return summary;
}
