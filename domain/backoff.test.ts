import fc from 'fast-check';
import { cappedDelayMs, DEFAULT_BACKOFF, equalJitterBoundsMs, equalJitterDelayMs } from './backoff';

describe('equal-jitter backoff', () => {
  test('defaults are base 1 s, cap 15 min, no attempt count (the authorization bounds the time)', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 1_000, capMs: 900_000 });
  });

  test('the capped delay doubles per attempt until the cap', () => {
    const policy = { baseMs: 1_000, capMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => cappedDelayMs(a, policy))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(cappedDelayMs(10_000, DEFAULT_BACKOFF)).toBe(900_000);
  });

  test('for every attempt the delay lies in [capped/2, capped], at both ends of the random range', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const capped = cappedDelayMs(attempt, DEFAULT_BACKOFF);
      expect(equalJitterDelayMs(attempt, DEFAULT_BACKOFF, () => 0)).toBe(capped / 2);
      expect(equalJitterDelayMs(attempt, DEFAULT_BACKOFF, () => 0.999999999)).toBe(capped);
      expect(equalJitterBoundsMs(attempt, DEFAULT_BACKOFF)).toEqual({ minMs: capped / 2, maxMs: capped });
    }
  });

  test('property: any base, cap, attempt and random value stay within the bounds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (baseMs, extra, attempt, r) => {
        const policy = { baseMs, capMs: baseMs + extra };
        const { minMs, maxMs } = equalJitterBoundsMs(attempt, policy);
        const delay = equalJitterDelayMs(attempt, policy, () => r);
        return Number.isInteger(delay) && delay >= minMs && delay <= maxMs;
      }),
    );
  });

  test('delays are spread across the jitter window, not clustered', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const delays = Array.from({ length: 2_000 }, () => equalJitterDelayMs(4, DEFAULT_BACKOFF, random));
    const { minMs, maxMs } = equalJitterBoundsMs(4, DEFAULT_BACKOFF);
    const buckets = new Array(4).fill(0) as number[];
    for (const d of delays) buckets[Math.min(3, Math.floor(((d - minMs) / (maxMs - minMs + 1)) * 4))]! += 1;
    for (const count of buckets) expect(count).toBeGreaterThan(350); // each quarter holds ~500
    expect(new Set(delays).size).toBeGreaterThan(1_000);
  });

  test('an attempt that is not a positive integer is a programming error', () => {
    expect(() => cappedDelayMs(0, DEFAULT_BACKOFF)).toThrow(RangeError);
    expect(() => cappedDelayMs(1.5, DEFAULT_BACKOFF)).toThrow(RangeError);
  });
});
