/**
 * A background loop of a worker process (outbox relay, ledger sweeper, webhook relay): runs `work`
 * every `intervalMs` - the next run is scheduled when the previous one has finished, so runs never
 * overlap - and logs a failed run as a warning (the next run retries). The returned function stops
 * the loop and resolves when the run in flight, if any, has finished.
 */
import type { Logger } from '../observability/logger';

export function runPeriodically(work: () => Promise<unknown>, options: { intervalMs: number; log: Logger; what: string }): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();
  const tick = () => {
    inFlight = work()
      .catch((err: unknown) => options.log.warn({ err }, `${options.what} failed; retrying next interval`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs);
      });
  };
  timer = setTimeout(tick, options.intervalMs);
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await inFlight;
  };
}
