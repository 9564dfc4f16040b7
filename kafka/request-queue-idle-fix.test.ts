/**
 * The replacement of kafkajs's RequestQueue.scheduleCheckPendingRequests, on the queue class itself
 * (no broker): no timer while nothing waits; a throttled request is still sent when the throttle ends.
 */
import { applyKafkaRequestQueueIdleFix, kafkajsRequestQueue, type RequestQueueInternals } from './request-queue-idle-fix';

const quietLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const newQueue = () => new (kafkajsRequestQueue())({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 'test', broker: 'test:9092', logger: quietLogger });

describe('kafkajs request queue idle fix', () => {
  beforeAll(() => expect(applyKafkaRequestQueueIdleFix()).toBe(true));

  it('arms no timer after a check that found nothing waiting', () => {
    const queue: RequestQueueInternals = newQueue();
    queue.checkPendingRequests();
    expect(queue.throttleCheckTimeoutId).toBeNull();
  });

  it('sends a request queued behind a throttle once the throttle ends', async () => {
    const queue: RequestQueueInternals = newQueue();
    const send = jest.fn();
    queue.throttledUntil = Date.now() + 50;
    queue.pending.push({ send, expectResponse: true, correlationId: 1, pendingDuration: 0 });
    queue.scheduleCheckPendingRequests();
    expect(queue.throttleCheckTimeoutId).not.toBeNull();
    expect(send).not.toHaveBeenCalled();
    await new Promise((r) => setTimeout(r, 120));
    expect(send).toHaveBeenCalledTimes(1);
    expect(queue.pending).toHaveLength(0);
    expect(queue.throttleCheckTimeoutId).toBeNull(); // and nothing re-armed once the queue is empty
  });

  it('sends a request pushed while throttled, and re-arms for a throttle raised meanwhile', async () => {
    const queue = newQueue() as RequestQueueInternals & { push(request: unknown): void; maybeThrottle(ms: number): void };
    const sendRequest = jest.fn();
    queue.maybeThrottle(30);
    queue.push({ entry: { correlationId: 1, resolve: () => undefined, reject: () => undefined }, expectResponse: false, sendRequest });
    expect(queue.throttleCheckTimeoutId).not.toBeNull();
    queue.maybeThrottle(80); // the broker asks for longer before the first timer fires
    await new Promise((r) => setTimeout(r, 50));
    expect(sendRequest).not.toHaveBeenCalled();
    await new Promise((r) => setTimeout(r, 80));
    expect(sendRequest).toHaveBeenCalledTimes(1);
    expect(queue.pending).toHaveLength(0);
    expect(queue.throttleCheckTimeoutId).toBeNull();
  });

  it('keeps re-checking every 10 ms while a request waits on the in-flight limit', async () => {
    const queue = newQueue() as RequestQueueInternals & { inflight: Map<number, unknown> };
    const send = jest.fn();
    queue.inflight.set(7, {}); // the one request allowed in flight
    queue.pending.push({ send, expectResponse: true, correlationId: 8, pendingDuration: 0 });
    queue.scheduleCheckPendingRequests();
    await new Promise((r) => setTimeout(r, 35));
    expect(send).not.toHaveBeenCalled();
    expect(queue.throttleCheckTimeoutId).not.toBeNull(); // still waiting, still armed
    queue.inflight.clear();
    await new Promise((r) => setTimeout(r, 35));
    expect(send).toHaveBeenCalledTimes(1);
    clearTimeout(queue.throttleCheckTimeoutId ?? undefined);
  });
});
