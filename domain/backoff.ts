/**
 * Exponential backoff with equal jitter, as in the brief:
 *   capped = min(base * 2^(attempt-1), cap);  delay = capped/2 + rand[0, capped/2]
 * Half of the delay is guaranteed (so retries do back off), half is random (so a burst of
 * failures does not retry in lock-step). Pure: the caller supplies the random source, which in
 * workflow code is the SDK's replay-safe Math.random.
 */
/**
 * `attemptsMax` bounded captures by a count before they were bounded by the authorization's
 * validity; only PaymentOrder workflows started before that change read it.
 */
export type BackoffPolicy = { baseMs: number; capMs: number; attemptsMax?: number };

/** A cap of 15 minutes: an outage of hours costs a few attempts an hour, not thousands. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 15 * 60_000 };

/** The capped exponential delay for a (1-based) failed attempt. */
export function cappedDelayMs(attempt: number, policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'>): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  // Compute in a way that cannot overflow to Infinity for large attempt numbers.
  const exponent = Math.min(attempt - 1, 52);
  return Math.min(policy.baseMs * 2 ** exponent, policy.capMs);
}

/** Bounds of the equal-jitter delay after `attempt`: [capped/2, capped]. */
export function equalJitterBoundsMs(attempt: number, policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'>): { minMs: number; maxMs: number } {
  const capped = cappedDelayMs(attempt, policy);
  return { minMs: Math.floor(capped / 2), maxMs: capped };
}

/** The delay to wait after failed attempt `attempt`, with `random()` in [0, 1). */
export function equalJitterDelayMs(attempt: number, policy: Pick<BackoffPolicy, 'baseMs' | 'capMs'>, random: () => number): number {
  const capped = cappedDelayMs(attempt, policy);
  const half = Math.floor(capped / 2);
  // random() < 1, so floor(random() * (span + 1)) is an integer in [0, span].
  return half + Math.floor(random() * (capped - half + 1));
}
