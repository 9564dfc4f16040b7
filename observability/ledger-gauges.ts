/**
 * Gauges about the ledger read from Postgres at scrape time (by the worker): the latest scheduled
 * verification, and the ledger's backlog - facts waiting to be journaled, batches waiting to be
 * published - with the age of the oldest, so an alert can tell a slow ledger from a stuck one.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { numeric as n, snapshotGauges } from './snapshot-gauges';

export function registerLedgerGauges(db: Database): void {
  type Snapshot = { violations: number; lastRun: number; lastClean: number; pendingFacts: number; oldestFactAgeS: number; quarantined: number; unpublished: number; oldestBatchAgeS: number };
  const { scalar: gauge } = snapshotGauges(
    (): Promise<Snapshot> =>
      db
        .execute<Record<string, string | null>>(sql`
        select (select violations from ledger_verification_runs order by id desc limit 1)::text as violations,
               extract(epoch from (select finished_at from ledger_verification_runs order by id desc limit 1))::text as last_run,
               extract(epoch from (select max(finished_at) from ledger_verification_runs where ok))::text as last_clean,
               (select count(*) from ledger_facts where journaled_at is null and quarantined_at is null)::text as pending_facts,
               extract(epoch from now() - (select min(created_at) from ledger_facts where journaled_at is null and quarantined_at is null))::text as oldest_fact_age,
               (select count(*) from ledger_facts where quarantined_at is not null)::text as quarantined,
               (select count(*) from ledger_batches where published_at is null)::text as unpublished,
               extract(epoch from now() - (select min(created_at) from ledger_batches where published_at is null))::text as oldest_batch_age`)
        .then(({ rows }) => {
          const r = rows[0] ?? {};
          return {
            violations: n(r.violations, Number.NaN),
            lastRun: n(r.last_run),
            lastClean: n(r.last_clean),
            pendingFacts: n(r.pending_facts),
            oldestFactAgeS: n(r.oldest_fact_age),
            quarantined: n(r.quarantined),
            unpublished: n(r.unpublished),
            oldestBatchAgeS: n(r.oldest_batch_age),
          };
        }),
  );
  gauge('payorch_ledger_invariant_violations', 'Violations found by the latest scheduled ledger verification (NaN before the first run)', (s) => s.violations);
  gauge('payorch_ledger_verification_last_run_timestamp_seconds', 'When the latest scheduled ledger verification finished (0: never)', (s) => s.lastRun);
  gauge('payorch_ledger_verification_last_clean_timestamp_seconds', 'When a scheduled ledger verification last found no violation (0: never)', (s) => s.lastClean);
  gauge('payorch_ledger_pending_facts', 'Ledger facts in Postgres not yet journaled', (s) => s.pendingFacts);
  gauge('payorch_ledger_oldest_pending_fact_age_seconds', 'Age of the oldest ledger fact not yet journaled (0: none)', (s) => s.oldestFactAgeS);
  gauge('payorch_ledger_quarantined_facts', 'Ledger facts set aside because they could not become a valid entry', (s) => s.quarantined);
  gauge('payorch_ledger_unpublished_batches', 'Committed ledger batches not yet acknowledged by Kafka', (s) => s.unpublished);
  gauge('payorch_ledger_oldest_unpublished_batch_age_seconds', 'Age of the oldest committed batch not yet published (0: none)', (s) => s.oldestBatchAgeS);
}
