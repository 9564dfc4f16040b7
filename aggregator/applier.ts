/**
 * One LedgerEntriesRecorded message, from bytes to balances: the apply path shared by the Kafka
 * consumer and the DLQ re-drive command.
 *
 * - Invalid: PoisonMessageError is thrown (the caller dead-letters it, or leaves it in the DLQ).
 * - Previous version (no sequence): ignored. Postgres holds what it says, and this version applies
 *   nothing to a stream before rebuilding the stream from Postgres.
 * - Sequenced: applied strictly in sequence (balance-store.ts). On a gap - or a stream Redis does
 *   not know, which is how every stream starts after this version is deployed or Redis lost its
 *   data - the stream stops and is rebuilt from Postgres at once, then the event is applied again
 *   (now a duplicate, or the next sequence if it was committed after the rebuild read Postgres).
 *   If the rebuild cannot run (Postgres or Redis down, or something kept moving under it) the
 *   stream stays stopped, recorded in Redis, and the healer (main.ts) retries it; the message is
 *   done, because the rebuild will include it: an event is only published after Postgres committed
 *   it. Other streams on the partition keep flowing.
 *
 * Redis and Postgres errors of the apply itself are thrown (tagged by dependency) for the caller
 * to retry: an outage blocks, it never skips.
 */
import { deltasOf, parseLedgerMessage, type BalanceDelta } from '../ledger/balances';
import type { LedgerEntriesRecordedEvent } from '../ledger/events';
import type { Logger } from '../observability/logger';
import type { BalanceStore } from './balance-store';
import { metrics, type EventOutcome } from './metrics';

/** `rebuilt`: the stream was rebuilt from Postgres on the way (a gap, or a stream Redis did not know). */
export type AppliedMessage = { outcome: Exclude<EventOutcome, 'dead-lettered'>; streamId: string; sequence: number | null; postings: number; rebuilt: boolean };

export function createApplier(deps: { store: BalanceStore; log: Logger }) {
  const { store, log } = deps;

  async function rebuildNow(streamId: string): Promise<boolean> {
    try {
      const outcome = await store.healStream(streamId);
      metrics.rebuilds.inc({ outcome });
      if (outcome === 'still-stopped') log.error({ streamId }, 'stream rebuilt from Postgres, but Redis has seen a sequence Postgres does not hold: it stays stopped');
      return outcome === 'rebuilt' || outcome === 'not-stopped';
    } catch (err) {
      metrics.rebuilds.inc({ outcome: 'failed' });
      log.warn({ streamId, err }, 'rebuilding a stopped stream from Postgres failed; it stays stopped and the healer retries');
      return false;
    }
  }

  async function applyEvent(event: LedgerEntriesRecordedEvent, deltas: Map<string, BalanceDelta> = deltasOf(event)): Promise<AppliedMessage> {
    const streamId = event.aggregateId;
    const input = { streamId, sequence: event.sequence, occurredAt: event.occurredAt, deltas };
    const postings = event.data.entries.reduce((n, e) => n + e.postings.length, 0);
    let rebuilt = false;
    const done = (outcome: AppliedMessage['outcome'], applied: number): AppliedMessage => {
      metrics.events.inc({ outcome });
      metrics.postings.inc(applied);
      return { outcome, streamId, sequence: event.sequence, postings: applied, rebuilt };
    };

    const first = await store.apply(input);
    if (first.outcome === 'applied') return done('applied', postings);
    if (first.outcome === 'duplicate') return done('duplicate', 0);
    // Already stopped before this event: the healer owns it.
    if (first.wasStopped) return done('stopped', 0);
    if (first.wasKnown) {
      metrics.gaps.inc();
      log.warn({ streamId, expected: first.appliedBefore + 1, got: event.sequence, eventId: event.eventId }, 'gap in a ledger stream: the stream stops and is rebuilt from Postgres');
    } else {
      log.info({ streamId, got: event.sequence }, 'stream unknown to Redis: rebuilding it from Postgres');
    }
    if (!(await rebuildNow(streamId))) return done('stopped', 0);
    rebuilt = true;
    const again = await store.apply(input);
    if (again.outcome === 'applied') return done('applied', postings);
    return done(again.outcome === 'duplicate' ? 'duplicate' : 'stopped', 0);
  }

  /** Applies a message value; throws PoisonMessageError for an invalid one. */
  async function applyMessage(value: Buffer | string | null): Promise<AppliedMessage> {
    const message = parseLedgerMessage(value);
    if (message.kind === 'legacy') {
      metrics.events.inc({ outcome: 'legacy-ignored' });
      return { outcome: 'legacy-ignored', streamId: message.streamId, sequence: null, postings: 0, rebuilt: false };
    }
    return applyEvent(message.event, message.deltas);
  }

  return { applyMessage, applyEvent };
}

export type Applier = ReturnType<typeof createApplier>;
