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

  test('tok_capture_fail is rejected for good and replayed as such', async () => {
    const auth = await authorize('tok_capture_fail');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    expect(await capture(auth.authorizationId, 'cap-fail')).toMatchObject({ kind: 'rejected', code: 'CAPTURE_REJECTED' });
    expect(await capture(auth.authorizationId, 'cap-fail')).toMatchObject({ kind: 'rejected', code: 'CAPTURE_REJECTED' });
    expect(simulator.captureLog().filter((e) => e.idempotencyKey === 'cap-fail')).toHaveLength(0);
  });

  test('captures beyond the authorized amount fail; concurrent duplicates capture once', async () => {
    const auth = await authorize('tok_visa', 1_000n);
    if (auth.kind !== 'approved') throw new Error('expected approval');
    const results = await Promise.all(Array.from({ length: 5 }, () => capture(auth.authorizationId, 'cap-dup', 600n)));
    expect(results.every((r) => r.kind === 'captured')).toBe(true);
    expect(new Set(results.map((r) => (r.kind === 'captured' ? r.captureId : ''))).size).toBe(1);
    expect(await capture(auth.authorizationId, 'cap-over', 600n)).toMatchObject({ kind: 'rejected', code: 'AMOUNT_EXCEEDS_AUTHORIZATION' });
  });

  test('a timeout is an unknown outcome for capture and PspUnavailableError for authorization', async () => {
    const auth = await authorize('tok_visa');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    simulator.setScenario('DEGRADED');
    const slow = createHttpPsp({ baseUrl, timeoutMs: 20 });
    try {
      expect(await slow.capture({ idempotencyKey: 'cap-slow', authorizationId: auth.authorizationId, amountMinor: 1n, currency: 'EUR', reference: 'r' })).toMatchObject({ kind: 'unknown', code: 'TIMEOUT' });
      await expect(slow.authorize({ idempotencyKey: 'auth-slow', amountMinor: 1n, currency: 'EUR', token: 'tok_visa', reference: 'r' })).rejects.toBeInstanceOf(PspUnavailableError);
    } finally {
      simulator.setScenario('BEST_PSP_EVER');
    }
  });

  test('a PSP that refuses the connection (nothing was sent) is a retryable capture outcome', async () => {
    // A port that was free a moment ago: nothing listens, the connection is refused.
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const down = createHttpPsp({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500 });
    expect(await down.capture({ idempotencyKey: 'k', authorizationId: 'a', amountMinor: 1n, currency: 'EUR', reference: 'r' })).toMatchObject({ kind: 'retryable', code: 'CONNECTION_REFUSED' });
  });

  test('a connection cut after the request was sent is unknown, not retryable', async () => {
    // A server that reads the request and drops the connection without answering.
    const { createServer } = await import('node:net');
    const cutter = createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((r) => cutter.listen(0, '127.0.0.1', r));
    try {
      const cut = createHttpPsp({ baseUrl: `http://127.0.0.1:${(cutter.address() as AddressInfo).port}`, timeoutMs: 2_000 });
      expect(await cut.capture({ idempotencyKey: 'k', authorizationId: 'a', amountMinor: 1n, currency: 'EUR', reference: 'r' })).toMatchObject({ kind: 'unknown', code: 'CONNECTION_LOST' });
    } finally {
      await new Promise((r) => cutter.close(r));
    }
  });

  test('authorizations carry expiresAt: 7 days by default, S seconds for tok_auth_expires_S', async () => {
    const before = Date.now();
    const normal = await authorize('tok_visa');
    const short = await authorize('tok_auth_expires_30');
    if (normal.kind !== 'approved' || short.kind !== 'approved') throw new Error('expected approvals');
    expect(Date.parse(normal.expiresAt!) - before).toBeGreaterThanOrEqual(7 * 24 * 3600 * 1000 - 1_000);
    expect(Date.parse(short.expiresAt!) - before).toBeGreaterThanOrEqual(29_000);
    expect(Date.parse(short.expiresAt!) - before).toBeLessThanOrEqual(31_000);
  });

  test('a capture of a lapsed authorization is rejected with AUTHORIZATION_EXPIRED; its void says expired', async () => {
    const auth = await authorize('tok_auth_expires_1');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    await new Promise((r) => setTimeout(r, 1_100));
    expect(await capture(auth.authorizationId, 'cap-expired')).toMatchObject({ kind: 'rejected', code: 'AUTHORIZATION_EXPIRED' });
    expect(await psp().voidAuthorization({ idempotencyKey: 'void-expired', authorizationId: auth.authorizationId, amountMinor: 1_000n, currency: 'EUR', reference: 'cap-expired' })).toEqual({ kind: 'expired' });
  });

  test('tok_capture_timeout_2: the capture is recorded on the first call, two calls time out, the third answers it', async () => {
    const auth = await authorize('tok_capture_timeout_2');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    const quick = createHttpPsp({ baseUrl, timeoutMs: 100 });
    const call = () => quick.capture({ idempotencyKey: 'cap-timeout', authorizationId: auth.authorizationId, amountMinor: 1_000n, currency: 'EUR', reference: 'po-timeout' });
    expect(await call()).toMatchObject({ kind: 'unknown', code: 'TIMEOUT' });
    expect(simulator.captureLog().filter((e) => e.reference === 'po-timeout')).toHaveLength(1);
    // The PSP knows: a lookup by the idempotency key finds the capture.
    const looked = await psp().lookupCapture({ idempotencyKey: 'cap-timeout' });
    expect(looked).toMatchObject({ kind: 'captured', captureId: simulator.captureLog().find((e) => e.reference === 'po-timeout')!.captureId });
    expect(await call()).toMatchObject({ kind: 'unknown' });
    expect(await call()).toEqual(looked);
    expect(simulator.captureLog().filter((e) => e.reference === 'po-timeout')).toHaveLength(1);
  });

  test('lookup of a key never captured is not_found; a rejected key is reported as rejected', async () => {
    expect(await psp().lookupCapture({ idempotencyKey: 'never-used' })).toEqual({ kind: 'not_found' });
    expect(await psp().lookupCapture({ idempotencyKey: 'cap-fail' })).toMatchObject({ kind: 'rejected', code: 'CAPTURE_REJECTED' });
  });

  test('void and capture of one reference exclude each other; the PSP decides the race', async () => {
    const auth = await authorize('tok_visa', 2_000n);
    if (auth.kind !== 'approved') throw new Error('expected approval');
    const voidOf = (reference: string) => psp().voidAuthorization({ idempotencyKey: `void-${reference}`, authorizationId: auth.authorizationId, amountMinor: 1_000n, currency: 'EUR', reference });
    // Captured first: the void loses and says so, with the capture's id.
    const captured = await psp().capture({ idempotencyKey: 'cap-a', authorizationId: auth.authorizationId, amountMinor: 1_000n, currency: 'EUR', reference: 'po-a' });
    if (captured.kind !== 'captured') throw new Error('expected a capture');
    expect(await voidOf('po-a')).toEqual({ kind: 'already_captured', captureId: captured.captureId });
    // Voided first: the capture is refused for good, and the void is idempotent.
    expect(await voidOf('po-b')).toEqual({ kind: 'voided' });
    expect(await voidOf('po-b')).toEqual({ kind: 'voided' });
    expect(await psp().capture({ idempotencyKey: 'cap-b', authorizationId: auth.authorizationId, amountMinor: 1_000n, currency: 'EUR', reference: 'po-b' })).toMatchObject({ kind: 'rejected', code: 'AUTHORIZATION_VOIDED' });
    expect(simulator.voidLog().filter((v) => v.reference === 'po-b')).toHaveLength(1);
    expect(simulator.captureLog().filter((c) => c.reference === 'po-b')).toHaveLength(0);
  });

  test('tokens combine: tok_capture_retry_1+tok_auth_expires_60 retries once and expires in a minute', async () => {
    const auth = await authorize('tok_capture_retry_1+tok_auth_expires_60');
    if (auth.kind !== 'approved') throw new Error('expected approval');
    expect(Date.parse(auth.expiresAt!) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await capture(auth.authorizationId, 'cap-combined')).toMatchObject({ kind: 'retryable' });
    expect(await capture(auth.authorizationId, 'cap-combined')).toMatchObject({ kind: 'captured' });
  });
});
