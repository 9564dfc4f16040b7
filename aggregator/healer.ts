/**
 * The healer: rebuilds stopped streams (a sequence gap, a stream Redis did not know, a fold that
 * found Postgres elsewhere) from Postgres. The consumer tries once when it stops a stream; this
 * pass retries what is still stopped, every AGGREGATOR_HEAL_INTERVAL_MS, backing off while
 * Postgres or Redis is down. A stream that cannot be rebuilt stays stopped - never skipped - and
 * shows in `aggregator_stream_gaps`.
 */
import type { Logger } from '../observability/logger';
import type { BalanceStore } from './balance-store';
import { metrics } from './metrics';

/** One pass over (up to `limit`) stopped streams; throws on the first Redis or Postgres error. */
export async function healStoppedStreams(store: BalanceStore, log: Logger, limit = 100): Promise<{ rebuilt: number; stopped: number }> {
  const streams = await store.stoppedStreams(limit);
  let rebuilt = 0;
  for (const streamId of streams) {
    let outcome;
    try {
      outcome = await store.healStream(streamId);
    } catch (err) {
      metrics.rebuilds.inc({ outcome: 'failed' });
      throw err;
    }
    metrics.rebuilds.inc({ outcome });
    if (outcome === 'rebuilt') {
      rebuilt += 1;
      log.info({ streamId }, 'stopped stream rebuilt from Postgres; it flows again');
    } else if (outcome === 'still-stopped') {
      log.error({ streamId }, 'stream rebuilt from Postgres, but Redis has seen a sequence Postgres does not hold: it stays stopped (see the runbook)');
    }
  }
  return { rebuilt, stopped: streams.length - rebuilt };
}

/** Runs the healer on a timer until stopped; returns the stop function. */
export function startHealer(deps: { store: BalanceStore; log: Logger; intervalMs: number; backoffCapMs?: number }): () => void {
  const { store, log, intervalMs } = deps;
  const capMs = deps.backoffCapMs ?? 60_000;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const loop = async () => {
    try {
      await healStoppedStreams(store, log);
      failures = 0;
    } catch (err) {
      failures += 1;
      log.warn({ err, failures }, 'healer pass failed (Redis or Postgres unavailable); stopped streams stay stopped and are retried');
    }
    if (stopped) return;
    timer = setTimeout(() => void loop(), failures === 0 ? intervalMs : Math.min(intervalMs * 2 ** Math.min(failures, 10), capMs));
  };
  timer = setTimeout(() => void loop(), intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
