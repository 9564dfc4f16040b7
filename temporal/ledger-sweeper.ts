/**
 * The ledger sweeper, run by every worker beside the outbox relay: it finds ledger streams whose
 * facts have waited to be journaled, or whose batches have waited to be published, longer than a
 * grace period, and wakes their ledger workflows (a wake-up starts one if there is none).
 * That is what makes a terminated, reset or lost ledger workflow harmless: Postgres holds the
 * facts, and the sweep brings a workflow back to them. Waking a healthy, busy ledger costs one
 * signal.
 */
import type { Database } from '../db/client';
import { streamsNeedingWork } from '../db/ledger-facts';
import type { Logger } from '../observability/logger';
import { runPeriodically } from './periodic';

export type LedgerSweeperOptions = { intervalMs: number; minAgeMs: number; limit: number };

export function runLedgerSweeper(deps: { db: Database; wake: (streamId: string) => Promise<void>; log: Logger }, options: LedgerSweeperOptions): () => Promise<void> {
  const sweep = async () => {
    const streams = await streamsNeedingWork(deps.db, { minAgeMs: options.minAgeMs, limit: options.limit });
    const results = await Promise.allSettled(streams.map((s) => deps.wake(s)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (streams.length > 0) deps.log.info({ woken: streams.length - failed, failed }, 'ledger sweeper woke streams with waiting facts or batches');
  };
  return runPeriodically(sweep, { intervalMs: options.intervalMs, log: deps.log, what: 'ledger sweep' });
}
