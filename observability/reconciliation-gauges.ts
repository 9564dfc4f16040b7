/**
 * `payorch_reconciliation_mismatches{kind}`: open (unresolved) reconciliation mismatches by kind,
 * read from Postgres at scrape time (by the worker). Every kind is exported, at 0 when there is none;
 * no samples while Postgres cannot be read.
 */
import type { Database } from '../db/client';
import { openMismatchCounts } from '../db/settlement';
import { MISMATCH_KINDS } from '../domain/money-out';
import { snapshotGauges } from './snapshot-gauges';

export function registerReconciliationGauges(db: Database): void {
  snapshotGauges(() => openMismatchCounts(db)).labelled(
    'payorch_reconciliation_mismatches',
    'Open reconciliation mismatches between the PSP settlement reports and our records, by kind',
    ['kind'],
    (g, counts) => {
      for (const kind of MISMATCH_KINDS) g.set({ kind }, counts[kind] ?? 0);
    },
  );
}
