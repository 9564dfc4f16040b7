/**
 * The simulator and the HTTP adapter together, in-process on a loopback port: test tokens,
 * idempotency, the capture log.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpPsp } from './http-psp.adapter';
import { PspUnavailableError } from './psp.port';
import { createSimulator, type Simulator } from './simulator';

describe('PSP simulator through the HTTP adapter', () => {
  let simulator: Simulator;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    simulator = createSimulator({ scenario: 'BEST_PSP_EVER', timeoutHoldMs: 300 });
    server = await new Promise<Server>((resolve) => {
      const s = simulator.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  const psp = () => createHttpPsp({ baseUrl, timeoutMs: 1_000 });
  let n = 0;
  const authorize = (token: string, amountMinor = 1_000n) => psp().authorize({ idempotencyKey: `auth-${++n}`, amountMinor, currency: 'EUR', token, reference: `p${n}` });
  const capture = (authorizationId: string, key: string, amountMinor = 1_000n) => psp().capture({ idempotencyKey: key, authorizationId, amountMinor, currency: 'EUR', reference: key });

  test('tok_visa approves; tok_chargeDeclined declines', async () => {
    expect(await authorize('tok_visa')).toMatchObject({ kind: 'approved', authorizationId: expect.stringMatching(/^auth_/) });
    expect(await authorize('tok_chargeDeclined')).toEqual({ kind: 'declined', reason: 'card_declined' });
  });

  test('the same authorization key returns the same authorization', async () => {
    const request = { idempotencyKey: 'auth-same', amountMinor: 500n, currency: 'EUR', token: 'tok_visa', reference: 'x' };
    const first = await psp().authorize(request);
    const second = await psp().authorize(request);
    expect(second).toEqual(first);
  });

  test('tok_capture_retry_2 fails transiently twice for a key, then captures once', async () => {
    const auth = await authorize('tok_capture_retry_2');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    expect(await capture(auth.authorizationId, 'cap-retry')).toMatchObject({ kind: 'retryable', code: 'PSP_TEMPORARILY_UNAVAILABLE' });
    expect(await capture(auth.authorizationId, 'cap-retry')).toMatchObject({ kind: 'retryable' });
    const captured = await capture(auth.authorizationId, 'cap-retry');
    expect(captured).toMatchObject({ kind: 'captured' });
    expect(await capture(auth.authorizationId, 'cap-retry')).toEqual(captured); // replay
    expect(simulator.captureLog().filter((e) => e.idempotencyKey === 'cap-retry')).toHaveLength(1);
  });

  test('tok_capture_fail fails permanently and is replayed as such', async () => {
    const auth = await authorize('tok_capture_fail');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    expect(await capture(auth.authorizationId, 'cap-fail')).toMatchObject({ kind: 'failed', code: 'CAPTURE_REJECTED' });
    expect(await capture(auth.authorizationId, 'cap-fail')).toMatchObject({ kind: 'failed', code: 'CAPTURE_REJECTED' });
    expect(simulator.captureLog().filter((e) => e.idempotencyKey === 'cap-fail')).toHaveLength(0);
  });

  test('captures beyond the authorized amount fail; concurrent duplicates capture once', async () => {
    const auth = await authorize('tok_visa', 1_000n);
    if (auth.kind !== 'approved') throw new Error('expected approval');
    const results = await Promise.all(Array.from({ length: 5 }, () => capture(auth.authorizationId, 'cap-dup', 600n)));
    expect(results.every((r) => r.kind === 'captured')).toBe(true);
    expect(new Set(results.map((r) => (r.kind === 'captured' ? r.captureId : ''))).size).toBe(1);
    expect(await capture(auth.authorizationId, 'cap-over', 600n)).toMatchObject({ kind: 'failed', code: 'AMOUNT_EXCEEDS_AUTHORIZATION' });
  });

  test('a timeout is a retryable outcome for capture and PspUnavailableError for authorization', async () => {
    const auth = await authorize('tok_visa');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    simulator.setScenario('DEGRADED');
    const slow = createHttpPsp({ baseUrl, timeoutMs: 20 });
    try {
      expect(await slow.capture({ idempotencyKey: 'cap-slow', authorizationId: auth.authorizationId, amountMinor: 1n, currency: 'EUR', reference: 'r' })).toMatchObject({ kind: 'retryable', code: 'TIMEOUT' });
      await expect(slow.authorize({ idempotencyKey: 'auth-slow', amountMinor: 1n, currency: 'EUR', token: 'tok_visa', reference: 'r' })).rejects.toBeInstanceOf(PspUnavailableError);
    } finally {
      simulator.setScenario('BEST_PSP_EVER');
    }
  });

  test('an unreachable PSP is a retryable capture outcome', async () => {
    const down = createHttpPsp({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 });
    expect(await down.capture({ idempotencyKey: 'k', authorizationId: 'a', amountMinor: 1n, currency: 'EUR', reference: 'r' })).toMatchObject({ kind: 'retryable', code: 'CONNECTION_ERROR' });
  });
});
