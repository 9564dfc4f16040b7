/**
 * `payorch_reconciliation_mismatches{kind}`: open (unresolved) reconciliation mismatches by kind,
 * read from Postgres at scrape time (by the worker). Every kind is exported, at 0 when there is none.
 */
import { Gauge } from 'prom-client';
import type { Database } from '../db/client';
import { openMismatchCounts } from '../db/settlement';
import { MISMATCH_KINDS } from '../domain/money-out';

export function registerReconciliationGauges(db: Database): void {
  new Gauge({
    name: 'payorch_reconciliation_mismatches',
    help: 'Open reconciliation mismatches between the PSP settlement reports and our records, by kind',
    labelNames: ['kind'],
    async collect() {
      const counts = await openMismatchCounts(db).catch(() => undefined);
      for (const kind of MISMATCH_KINDS) this.set({ kind }, counts ? (counts[kind] ?? 0) : Number.NaN);
    },
  });
}
