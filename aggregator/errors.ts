/**
 * How the balance aggregator reads a failure, decided in this one place.
 *
 * Only a message that fails validation (PoisonMessageError, from ledger/balances.ts) is the
 * message's fault, and only it goes to the dead-letter topic. Everything else is an outage and the
 * message is retried until it succeeds: a Redis reply (READONLY during a managed failover, OOM,
 * LOADING, MISCONF, BUSY, CROSSSLOT, NOSCRIPT, MASTERDOWN, ...), a lost connection, a Postgres error,
 * Kafka refusing the dead letter - and an error nobody expected (a bug), which is no reason to
 * give up a payment either. Dead-lettering an outage is how the previous version lost money: the
 * next event of the stream moved past the dead-lettered one.
 *
 * The store tags what it sends to Redis and Postgres (`onRedis`, `onPostgres`), so the metric and
 * the log can say which dependency is out without guessing from a message text.
 */
import { KafkaJSError } from 'kafkajs';
import { PoisonMessageError } from '../ledger/balances';

export const DEPENDENCIES = ['redis', 'postgres', 'kafka', 'unknown'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

/** Redis error replies we name in metrics; anything else is `other`, a lost connection `connection`. */
export const REDIS_REPLY_REASONS = ['READONLY', 'OOM', 'LOADING', 'MISCONF', 'BUSY', 'CROSSSLOT', 'NOSCRIPT', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'MOVED', 'ASK', 'NOREPLICAS'] as const;
export const OUTAGE_REASONS = [...REDIS_REPLY_REASONS, 'connection', 'other'] as const;
export type OutageReason = (typeof OUTAGE_REASONS)[number];

/** A failure of a dependency the aggregator needs, with the original error as `cause`. */
export class DependencyError extends Error {
  override readonly name = 'DependencyError';
  constructor(
    readonly dependency: Exclude<Dependency, 'unknown'>,
    cause: unknown,
  ) {
    super(`${dependency}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export type AggregatorFailure = { kind: 'poison'; error: PoisonMessageError } | { kind: 'outage'; dependency: Dependency; reason: OutageReason; error: unknown };

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
const CONNECTION_TEXT = /connection|connect|closed|terminated|writeable|MaxRetriesPerRequest|timeout|socket/i;

function reasonOf(cause: unknown): OutageReason {
  const e = cause as { name?: unknown; message?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : '';
  if (e?.name === 'ReplyError') {
    // A script error wraps the reply of the command that failed: "ERR Error running script ...: READONLY ...".
    const named = REDIS_REPLY_REASONS.find((r) => message.startsWith(r) || new RegExp(`\\b${r}\\b`).test(message));
    return named ?? 'other';
  }
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return 'connection';
  return CONNECTION_TEXT.test(message) ? 'connection' : 'other';
}

/** The one classification of aggregator failures: poison (dead-letter) or outage (block and retry). */
export function classifyFailure(err: unknown): AggregatorFailure {
  if (err instanceof PoisonMessageError) return { kind: 'poison', error: err };
  if (err instanceof DependencyError) return { kind: 'outage', dependency: err.dependency, reason: reasonOf(err.cause), error: err };
  if (err instanceof KafkaJSError) return { kind: 'outage', dependency: 'kafka', reason: reasonOf(err), error: err };
  return { kind: 'outage', dependency: 'unknown', reason: reasonOf(err), error: err };
}

/** Runs a Redis call and tags its failure. */
export async function onRedis<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw err instanceof DependencyError ? err : new DependencyError('redis', err);
  }
}

/** Runs a Postgres call and tags its failure. */
export async function onPostgres<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw err instanceof DependencyError ? err : new DependencyError('postgres', err);
  }
}
