/**
 * The balance aggregator's metrics, defined once (the process, the benchmark and the re-drive
 * command share them). Label values are closed lists.
 */
import { Counter, Gauge } from 'prom-client';
import { DEPENDENCIES, REDIS_REPLY_REASONS } from './errors';

/** What happened to a message. */
/**
 * What happened to a message: `stopped` - its stream is stopped at a gap and waits for a rebuild
 * from Postgres (which will include this event); `legacy-ignored` - an event of the previous
 * version, without a sequence (Postgres holds what it says, and every stream is rebuilt from
 * Postgres before this version applies anything to it).
 */
export const EVENT_OUTCOMES = ['applied', 'duplicate', 'stopped', 'legacy-ignored', 'dead-lettered'] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

export const REBUILD_OUTCOMES = ['rebuilt', 'still-stopped', 'not-stopped', 'folding', 'superseded', 'behind', 'failed'] as const;

export const metrics = {
  events: new Counter({ name: 'aggregator_events_total', help: 'LedgerEntriesRecorded messages processed, by outcome', labelNames: ['outcome'] as const }),
  postings: new Counter({ name: 'aggregator_postings_applied_total', help: 'Postings applied to balances (duplicates excluded)' }),
  dlq: new Counter({ name: 'aggregator_dlq_messages_total', help: 'Messages sent to the dead-letter topic (only messages that fail validation)', labelNames: ['reason'] as const }),
  gaps: new Counter({ name: 'aggregator_stream_gaps_detected_total', help: 'Events that arrived above their stream\'s next sequence number (the stream stops until rebuilt from Postgres)' }),
  rebuilds: new Counter({ name: 'aggregator_stream_rebuilds_total', help: 'Attempts to rebuild a stopped stream from Postgres, by outcome', labelNames: ['outcome'] as const }),
  outageRetries: new Counter({ name: 'aggregator_outage_retries_total', help: 'Failed attempts to process a message because a dependency was unavailable (the message is retried, never skipped)', labelNames: ['dependency', 'reason'] as const }),
  blocked: new Gauge({ name: 'aggregator_blocked', help: '1 while the consumer is blocked retrying a message on an outage' }),
  assignedPartitions: new Gauge({ name: 'aggregator_assigned_partitions', help: 'Partitions of the ledger topic this instance holds (from its last group assignment)' }),
  foldConflicts: new Counter({ name: 'aggregator_fold_conflicts_total', help: 'Folds refused because the Postgres snapshot was not where Redis said (the stream is rebuilt)' }),
};

// Expose the series from the start (as 0), so dashboards and alerts see them before the first event.
for (const outcome of EVENT_OUTCOMES) metrics.events.inc({ outcome }, 0);
for (const outcome of REBUILD_OUTCOMES) metrics.rebuilds.inc({ outcome }, 0);
metrics.dlq.inc({ reason: 'invalid' }, 0);
for (const dependency of DEPENDENCIES) for (const reason of ['connection', 'other'] as const) metrics.outageRetries.inc({ dependency, reason }, 0);
for (const reason of REDIS_REPLY_REASONS) metrics.outageRetries.inc({ dependency: 'redis', reason }, 0);
