/**
 * Gauges read from Postgres at scrape time. One query serves a family of gauges: the snapshot is
 * read once per scrape (cached for `ttlMs`, so the gauges of one scrape share it) and each gauge
 * picks its value from it. When the read fails, a scalar gauge reports NaN and a labelled gauge
 * reports no samples (so `absent()` alerts fire) - never a stale value.
 */
import { Gauge } from 'prom-client';

export interface SnapshotGauges<S> {
  /** A gauge with no labels whose value is `pick(snapshot)`. */
  scalar: (name: string, help: string, pick: (s: S) => number) => Gauge;
  /** A labelled gauge: reset at every scrape, then filled by `fill` from the snapshot. */
  labelled: (name: string, help: string, labelNames: string[], fill: (g: Gauge, s: S) => void) => Gauge;
}

export function snapshotGauges<S>(read: () => Promise<S>, ttlMs = 1_000): SnapshotGauges<S> {
  let cached: { at: number; value: Promise<S> } | undefined;
  const snapshot = (): Promise<S> => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.value;
    cached = { at: Date.now(), value: read() };
    return cached.value;
  };
  return {
    scalar: (name, help, pick) =>
      new Gauge({
        name,
        help,
        async collect() {
          this.set(await snapshot().then(pick, () => Number.NaN));
        },
      }),
    labelled: (name, help, labelNames, fill) =>
      new Gauge({
        name,
        help,
        labelNames,
        async collect() {
          this.reset();
          await snapshot().then(
            (s) => fill(this, s),
            () => undefined,
          );
        },
      }),
  };
}

/** A numeric column of a snapshot row: `empty` when SQL returned null (no row to measure). */
export const numeric = (v: string | null | undefined, empty = 0): number => (v === null || v === undefined ? empty : Number(v));
