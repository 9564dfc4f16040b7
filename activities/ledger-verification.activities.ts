/**
 * The scheduled ledger verification's activity: runs every invariant check and records the
 * result (the worker exports the latest run as metrics, and operators read the table).
 */
import type { Database } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { ledgerVerificationRuns } from '../db/schema';

export type LedgerVerificationSummary = { ok: boolean; violations: number; failedChecks: string[] };

export function createLedgerVerificationActivities(deps: { db: Database; graceMs: number }) {
  return {
    async verifyAndRecordLedger(): Promise<LedgerVerificationSummary> {
      const startedAt = new Date();
      const report = await verifyLedger(deps.db, { graceMs: deps.graceMs, sampleMax: 5 });
      const violations = report.checks.reduce((sum, c) => sum + c.violations, 0);
      await deps.db.insert(ledgerVerificationRuns).values({ startedAt, ok: report.ok, violations, report });
      return { ok: report.ok, violations, failedChecks: report.checks.filter((c) => c.violations > 0).map((c) => c.name) };
    },
  };
}
