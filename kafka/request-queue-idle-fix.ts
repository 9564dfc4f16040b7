/**
 * kafkajs 2.2.4 keeps every broker connection busy while it is idle: after each check of its
 * queue of requests waiting to be sent, `RequestQueue.scheduleCheckPendingRequests` arms a timer
 * even when nothing waits, with a negative delay when the connection is not throttled, so each
 * connection runs its check about a thousand times a second for as long as it is open
 * (kafkajs issues 1556 and 1704; not fixed in a release). Measured here: the aggregator, idle,
 * 4–13 % of a core.
 *
 * The replacement arms the timer only when requests wait (throttled by the broker, or more in
 * flight than allowed), for when the throttle ends or in 10 ms, as before. With nothing waiting
 * there is nothing to check: a new request is sent at once or queued (which arms the timer), and
 * each response checks the queue again.
 *
 * Applied once, on the first Kafka client we create (kafka/client.ts). Only on the version whose
 * code this was written against; another version keeps its own code (and the test of this module
 * says whether it still spins).
 */
/** The fields of kafkajs's RequestQueue that the replacement reads and writes. */
export type RequestQueueInternals = {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
};
type RequestQueueClass = { prototype: RequestQueueInternals } & (new (options: Record<string, unknown>) => RequestQueueInternals);

export const FIXED_KAFKAJS_VERSION = '2.2.4';
/** kafkajs's own interval for re-checking a queue whose requests wait on the in-flight limit. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const untilUnthrottled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_REQUESTS_INTERVAL_MS,
  );
}

let applied: boolean | undefined;
let requestQueueClass: RequestQueueClass | undefined;

/**
 * kafkajs's RequestQueue class. It is not part of kafkajs's public API; the package has no
 * `exports` map, so its source path resolves, to the same module instance the client uses.
 */
export function kafkajsRequestQueue(): RequestQueueClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  requestQueueClass ??= require('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass;
  return requestQueueClass;
}

/**
 * Replaces the spinning method once; says whether the installed kafkajs got the replacement. Any
 * other version, or one whose internals moved, keeps its own code and still starts.
 */
export function applyKafkaRequestQueueIdleFix(): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require('kafkajs/package.json') as { version: string };
    const RequestQueue = version === FIXED_KAFKAJS_VERSION ? kafkajsRequestQueue() : undefined;
    if (typeof RequestQueue?.prototype.scheduleCheckPendingRequests === 'function') {
      RequestQueue.prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
      applied = true;
    }
  } catch {
    // internals not where 2.2.4 has them: leave kafkajs as it is
  }
  return applied;
}
