/**
 * The PSP simulator: a real HTTP service so that activities see real latency, timeouts and
 * connection errors. Behaviour comes from the scenario (latency and outcome distribution) and from
 * deterministic test tokens in the manner of card-network test cards:
 *
 * - `tok_visa` (or any other token): authorization approved; capture follows the scenario.
 * - `tok_chargeDeclined`: authorization declined.
 * - `tok_capture_retry_N`: capture fails transiently N times (per idempotency key), then succeeds.
 * - `tok_capture_fail`: capture fails permanently.
 * - `tok_capture_timeout_N`: the first N capture calls of a key time out at the caller *after*
 *   the capture was recorded (the reply is held past any sane client timeout); call N+1 answers.
 * - `tok_auth_expires_S`: the authorization lapses S seconds after it was granted (default: the
 *   simulator's authorization lifetime, 7 days).
 * - `tok_lookup_fail_N`: the first N capture lookups of a key answer 500 (the PSP cannot say).
 * - `tok_refund_fail`: refunds of the authorization's captures are rejected for good.
 * - `tok_refund_timeout_N`: the first N refund calls of a key time out after the refund was made.
 * Tokens combine with `+`, e.g. `tok_auth_expires_20+tok_capture_retry_999` (captures keep failing
 * transiently until the authorization lapses).
 *
 * Authorizations carry `expiresAt`. A capture of a lapsed authorization is rejected with
 * AUTHORIZATION_EXPIRED. A PaymentOrder's share of an authorization can be voided (by reference);
 * capture and void of one reference exclude each other, and the PSP decides the race: a void after
 * the capture answers ALREADY_CAPTURED, a capture after the void is rejected (AUTHORIZATION_VOIDED).
 * Captures can be looked up by idempotency key. Lookups and voids obey the scenario too (latency,
 * timeouts), because a real PSP's do.
 *
 * Idempotency: a completed authorization, capture (success or final failure) or void is stored
 * under its Idempotency-Key and replayed for the same key; a transient failure is not stored, so a
 * retry runs again. The capture and void logs record what actually happened, so tests compare our
 * database with the PSP's own records. State can be persisted to a JSONL file so a restarted
 * simulator remembers everything.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';

import { mountMoneyOut, type MoneyOutOptions, type PayoutLogEntry, type SettlementFaults } from './money-out';
import { PSP_SCENARIOS, type PspScenario } from './scenarios';

export { PSP_SCENARIOS, type PspScenario };

type ScenarioProfile = {
  latencyMs: [number, number];
  /** Share of money-moving calls (capture, void) and lookups that time out. */
  timeoutRate: number;
  /** Of the captures that do not time out: success, retryable, final (sums to 1). */
  outcomes: [number, number, number];
  /** Authorizations answer at this latency, unaffected by the capture-side trouble. */
  authLatencyMs?: [number, number];
};

const PROFILES: Record<PspScenario, ScenarioProfile> = {
  NORMAL: { latencyMs: [50, 150], timeoutRate: 0, outcomes: [1, 0, 0] },
  PEAK: { latencyMs: [50, 150], timeoutRate: 0.25, outcomes: [0.5, 0.45, 0.05] },
  DEGRADED: { latencyMs: [100, 300], timeoutRate: 0.3, outcomes: [0.5, 0.4, 0.1] },
  BEST_PSP_EVER: { latencyMs: [1, 2], timeoutRate: 0, outcomes: [1, 0, 0] },
  // The capture side is down (an outage of the acquirer link): half the calls hang (some of the
  // captures among them did happen), the rest answer 503; nothing succeeds outright and nothing is
  // refused for good. Authorizations keep working, so checkouts keep arriving.
  CAPTURE_OUTAGE: { latencyMs: [5, 20], timeoutRate: 0.5, outcomes: [0, 1, 0], authLatencyMs: [1, 2] },
};

export type CaptureLogEntry = {
  captureId: string;
  authorizationId: string;
  reference: string;
  idempotencyKey: string;
  amountMinor: string;
  currency: string;
  at: string;
};

export type VoidLogEntry = {
  voidId: string;
  authorizationId: string;
  reference: string;
  idempotencyKey: string;
  amountMinor: string;
  currency: string;
  at: string;
};

export type RefundLogEntry = {
  refundId: string;
  captureId: string;
  reference: string;
  idempotencyKey: string;
  amountMinor: string;
  currency: string;
  at: string;
};

type Authorization = { authorizationId: string; token: string; amountMinor: bigint; currency: string; capturedMinor: bigint; voidedMinor: bigint; expiresAt: number };
type StoredResponse = { requestHash: string; status: number; body: Record<string, unknown> };
type PersistedEvent =
  | { t: 'auth'; key: string; requestHash: string; status: number; body: Record<string, unknown>; token: string; amountMinor: string; currency: string }
  | { t: 'capture-result'; key: string; requestHash: string; status: number; body: Record<string, unknown> }
  | { t: 'capture'; entry: CaptureLogEntry }
  | { t: 'void-result'; key: string; requestHash: string; status: number; body: Record<string, unknown> }
  | { t: 'void'; entry: VoidLogEntry }
  | { t: 'refund-result'; key: string; requestHash: string; status: number; body: Record<string, unknown> }
  | { t: 'refund'; entry: RefundLogEntry };

export type SimulatorOptions = {
  scenario: PspScenario;
  /** How long a "timeout" holds the request before answering 504. */
  timeoutHoldMs?: number;
  /** Lifetime of an authorization, seconds (default 7 days). */
  authTtlS?: number;
  stateFile?: string;
  random?: () => number;
  /** Settlement report and payout rail (psp/money-out.ts). */
  moneyOut?: Omit<MoneyOutOptions, 'stateFile'>;
};

export type Simulator = {
  app: express.Express;
  captureLog: () => CaptureLogEntry[];
  voidLog: () => VoidLogEntry[];
  refundLog: () => RefundLogEntry[];
  payoutLog: () => PayoutLogEntry[];
  setSettlementFaults: (f: SettlementFaults) => void;
  setScenario: (s: PspScenario) => void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const DEFAULT_AUTH_TTL_S = 7 * 24 * 3600;

/** What a (possibly combined) test token asks of the simulator. */
type TokenBehaviour = { declined: boolean; captureFail: boolean; refundFail: boolean; captureRetries?: number; captureTimeouts?: number; lookupFailures?: number; authLifetimeS?: number; refundTimeouts?: number };

export function tokenBehaviour(token: string): TokenBehaviour {
  const behaviour: TokenBehaviour = { declined: false, captureFail: false, refundFail: false };
  for (const part of token.split('+')) {
    const n = (prefix: string) => {
      const m = new RegExp(`^${prefix}(\\d+)$`).exec(part);
      return m ? Number(m[1]) : undefined;
    };
    if (part === 'tok_chargeDeclined') behaviour.declined = true;
    if (part === 'tok_capture_fail') behaviour.captureFail = true;
    if (part === 'tok_refund_fail') behaviour.refundFail = true;
    behaviour.refundTimeouts ??= n('tok_refund_timeout_');
    behaviour.captureRetries ??= n('tok_capture_retry_');
    behaviour.captureTimeouts ??= n('tok_capture_timeout_');
    behaviour.lookupFailures ??= n('tok_lookup_fail_');
    behaviour.authLifetimeS ??= n('tok_auth_expires_');
  }
  return behaviour;
}

export function createSimulator(options: SimulatorOptions): Simulator {
  let scenario = options.scenario;
  const random = options.random ?? Math.random;
  const timeoutHoldMs = options.timeoutHoldMs ?? 5_000;
  const authTtlS = options.authTtlS ?? DEFAULT_AUTH_TTL_S;
  const authorizations = new Map<string, Authorization>();
  const authResults = new Map<string, StoredResponse>();
  const captureResults = new Map<string, StoredResponse>();
  const voidResults = new Map<string, StoredResponse>();
  const transientFailures = new Map<string, number>();
  /** Calls per capture key, for tok_capture_timeout_N. */
  const captureCalls = new Map<string, number>();
  const log: CaptureLogEntry[] = [];
  const voids: VoidLogEntry[] = [];
  /** reference -> what settled it at the PSP: its capture or its void. */
  const capturedByReference = new Map<string, CaptureLogEntry>();
  const capturedByKey = new Map<string, CaptureLogEntry>();
  const capturedById = new Map<string, CaptureLogEntry>();
  const refunds: RefundLogEntry[] = [];
  const refundResults = new Map<string, StoredResponse>();
  const refundedByKey = new Map<string, RefundLogEntry>();
  /** captureId -> minor units refunded so far. */
  const refundedOf = new Map<string, bigint>();
  const refundCalls = new Map<string, number>();
  const voidedByReference = new Map<string, VoidLogEntry>();

  const persist = (event: PersistedEvent) => {
    if (options.stateFile) appendFileSync(options.stateFile, `${JSON.stringify(event)}\n`);
  };
  function applyCapture(entry: CaptureLogEntry) {
    log.push(entry);
    capturedByReference.set(entry.reference, entry);
    capturedByKey.set(entry.idempotencyKey, entry);
    capturedById.set(entry.captureId, entry);
    const auth = authorizations.get(entry.authorizationId);
    if (auth) auth.capturedMinor += BigInt(entry.amountMinor);
  }
  function applyRefund(entry: RefundLogEntry) {
    refunds.push(entry);
    refundedByKey.set(entry.idempotencyKey, entry);
    refundedOf.set(entry.captureId, (refundedOf.get(entry.captureId) ?? 0n) + BigInt(entry.amountMinor));
  }
  function applyVoid(entry: VoidLogEntry) {
    voids.push(entry);
    voidedByReference.set(entry.reference, entry);
    const auth = authorizations.get(entry.authorizationId);
    if (auth) auth.voidedMinor += BigInt(entry.amountMinor);
  }
  const lifetimeOf = (token: string): number => tokenBehaviour(token).authLifetimeS ?? authTtlS;
  /** Lookups per capture key, for tok_lookup_fail_N. */
  const lookupCalls = new Map<string, number>();

  if (options.stateFile && existsSync(options.stateFile)) {
    for (const line of readFileSync(options.stateFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as PersistedEvent;
      if (event.t === 'auth') {
        authResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
        const id = event.body.authorizationId;
        if (typeof id === 'string') {
          const expiresAt = typeof event.body.expiresAt === 'string' ? Date.parse(event.body.expiresAt) : Date.now() + authTtlS * 1_000;
          authorizations.set(id, { authorizationId: id, token: event.token, amountMinor: BigInt(event.amountMinor), currency: event.currency, capturedMinor: 0n, voidedMinor: 0n, expiresAt });
        }
      } else if (event.t === 'capture-result') {
        captureResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
      } else if (event.t === 'capture') {
        applyCapture(event.entry);
      } else if (event.t === 'void-result') {
        voidResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
      } else if (event.t === 'void') {
        applyVoid(event.entry);
      } else if (event.t === 'refund-result') {
        refundResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
      } else if (event.t === 'refund') {
        applyRefund(event.entry);
      } // other lines (the payout rail's) are replayed by psp/money-out.ts
    }
  }

  const latency = async (range = PROFILES[scenario].latencyMs) => {
    const [lo, hi] = range;
    await sleep(lo + random() * (hi - lo));
  };
  /** A reply that never comes in time: held, then 504 if the caller is still there. */
  const hang = async (res: Response) => {
    await sleep(timeoutHoldMs);
    if (!res.headersSent && !res.writableEnded) res.status(504).json({ status: 'UNKNOWN', code: 'GATEWAY_TIMEOUT', message: 'timed out' });
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  const keyOf = (req: Request, res: Response): string | undefined => {
    const key = req.header('idempotency-key');
    if (!key || key.length > 255) {
      res.status(400).json({ code: 'IDEMPOTENCY_KEY_REQUIRED', message: 'Idempotency-Key header is required' });
      return undefined;
    }
    return key;
  };
  const amountOf = (v: unknown): bigint | undefined => (typeof v === 'string' && /^[1-9][0-9]{0,18}$/.test(v) ? BigInt(v) : undefined);
  /** Replays a stored result for `key`, or answers 422 when the key was used for another request. */
  const replayFrom = (store: Map<string, StoredResponse>, key: string, requestHash: string, res: Response): boolean => {
    const stored = store.get(key);
    if (!stored) return false;
    if (stored.requestHash !== requestHash) res.status(422).json({ code: 'IDEMPOTENCY_KEY_REUSED', message: 'key reused with a different request' });
    else res.status(stored.status).json(stored.body);
    return true;
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    res.json({ status: 'ready', scenario });
  });

  app.post('/v1/authorizations', async (req, res) => {
    const key = keyOf(req, res);
    if (!key) return;
    const body = req.body as Record<string, unknown>;
    const requestHash = JSON.stringify([body.amountMinor, body.currency, body.token]);
    if (replayFrom(authResults, key, requestHash, res)) return;
    const amountMinor = amountOf(body.amountMinor);
    const currency = typeof body.currency === 'string' ? body.currency : '';
    const token = typeof body.token === 'string' ? body.token : '';
    if (amountMinor === undefined || !/^[A-Z]{3}$/.test(currency) || token === '') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'amountMinor, currency and token are required' });
      return;
    }
    await latency(PROFILES[scenario].authLatencyMs);
    if (replayFrom(authResults, key, requestHash, res)) return; // a concurrent duplicate completed while we waited
    let status = 200;
    let out: Record<string, unknown>;
    if (tokenBehaviour(token).declined) {
      status = 402;
      out = { status: 'DECLINED', reason: 'card_declined' };
    } else {
      const authorizationId = `auth_${randomUUID()}`;
      const expiresAt = Date.now() + lifetimeOf(token) * 1_000;
      authorizations.set(authorizationId, { authorizationId, token, amountMinor, currency, capturedMinor: 0n, voidedMinor: 0n, expiresAt });
      out = { status: 'APPROVED', authorizationId, expiresAt: new Date(expiresAt).toISOString() };
    }
    authResults.set(key, { requestHash, status, body: out });
    persist({ t: 'auth', key, requestHash, status, body: out, token, amountMinor: amountMinor.toString(), currency });
    res.status(status).json(out);
  });

  app.post('/v1/captures', async (req, res) => {
    const key = keyOf(req, res);
    if (!key) return;
    const body = req.body as Record<string, unknown>;
    const requestHash = JSON.stringify([body.authorizationId, body.amountMinor, body.currency]);
    const auth = typeof body.authorizationId === 'string' ? authorizations.get(body.authorizationId) : undefined;
    const behaviour = tokenBehaviour(auth?.token ?? '');
    const timeouts = behaviour.captureTimeouts ?? 0;
    const calls = (captureCalls.get(key) ?? 0) + 1;
    captureCalls.set(key, calls);
    if (calls <= timeouts && captureResults.has(key)) {
      // tok_capture_timeout_N: the capture happened on the first call; calls up to N still hang.
      return hang(res);
    }
    if (replayFrom(captureResults, key, requestHash, res)) return;
    const amountMinor = amountOf(body.amountMinor);
    const reference = typeof body.reference === 'string' ? body.reference : '';
    if (amountMinor === undefined || typeof body.currency !== 'string') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'amountMinor and currency are required' });
      return;
    }
    await latency();
    if (replayFrom(captureResults, key, requestHash, res)) return; // a concurrent duplicate may have completed while we waited
    const complete = (status: number, out: Record<string, unknown>) => {
      captureResults.set(key, { requestHash, status, body: out });
      persist({ t: 'capture-result', key, requestHash, status, body: out });
      res.status(status).json(out);
    };
    const capture = () => {
      const entry: CaptureLogEntry = {
        captureId: `cap_${randomUUID()}`,
        authorizationId: auth!.authorizationId,
        reference,
        idempotencyKey: key,
        amountMinor: amountMinor.toString(),
        currency: body.currency as string,
        at: new Date().toISOString(),
      };
      applyCapture(entry);
      persist({ t: 'capture', entry });
      const out = { status: 'CAPTURED', captureId: entry.captureId };
      captureResults.set(key, { requestHash, status: 200, body: out });
      persist({ t: 'capture-result', key, requestHash, status: 200, body: out });
      return out;
    };
    const transient = (code: string, message: string) => res.status(503).json({ status: 'RETRYABLE', code, message });
    if (!auth) return complete(404, { status: 'FAILED', code: 'UNKNOWN_AUTHORIZATION', message: 'no such authorization' });
    if (auth.currency !== body.currency) return complete(422, { status: 'FAILED', code: 'CURRENCY_MISMATCH', message: 'currency differs from the authorization' });
    if (voidedByReference.has(reference)) return complete(422, { status: 'FAILED', code: 'AUTHORIZATION_VOIDED', message: 'this share of the authorization was voided' });
    if (Date.now() >= auth.expiresAt) return complete(422, { status: 'FAILED', code: 'AUTHORIZATION_EXPIRED', message: 'the authorization has expired' });
    if (auth.capturedMinor + auth.voidedMinor + amountMinor > auth.amountMinor) {
      return complete(422, { status: 'FAILED', code: 'AMOUNT_EXCEEDS_AUTHORIZATION', message: 'capture exceeds the authorized amount' });
    }
    if (behaviour.captureFail) {
      return complete(422, { status: 'FAILED', code: 'CAPTURE_REJECTED', message: 'the issuer rejected the capture' });
    }
    if (timeouts > 0) {
      capture();
      return hang(res);
    }
    if (behaviour.captureRetries !== undefined) {
      const failed = transientFailures.get(key) ?? 0;
      if (failed < behaviour.captureRetries) {
        transientFailures.set(key, failed + 1);
        return transient('PSP_TEMPORARILY_UNAVAILABLE', `transient failure ${failed + 1} of ${behaviour.captureRetries}`);
      }
      return res.status(200).json(capture());
    }
    const profile = PROFILES[scenario];
    if (random() < profile.timeoutRate) {
      // An ambiguous timeout: half the time the capture happened before the caller gave up. Only
      // the idempotency key (or a lookup) keeps the caller from booking it as failed.
      if (random() < 0.5) capture();
      return hang(res);
    }
    const roll = random();
    if (roll < profile.outcomes[0]) return res.status(200).json(capture());
    if (roll < profile.outcomes[0] + profile.outcomes[1]) return transient('PSP_TEMPORARILY_UNAVAILABLE', 'try again later');
    return complete(422, { status: 'FAILED', code: 'CAPTURE_REJECTED', message: 'the issuer rejected the capture' });
  });

  // Capture lookup by idempotency key (or by reference): what the PSP holds, without side effects.
  app.get('/v1/captures/lookup', async (req, res) => {
    const key = typeof req.query.idempotencyKey === 'string' ? req.query.idempotencyKey : undefined;
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    if (!key && !reference) {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'idempotencyKey or reference is required' });
      return;
    }
    await latency();
    if (random() < PROFILES[scenario].timeoutRate) return hang(res);
    const captured = key ? capturedByKey.get(key) : capturedByReference.get(reference!);
    const authorization = captured ? authorizations.get(captured.authorizationId) : undefined;
    const lookups = (lookupCalls.get(key ?? reference!) ?? 0) + 1;
    lookupCalls.set(key ?? reference!, lookups);
    if (lookups <= (tokenBehaviour(authorization?.token ?? '').lookupFailures ?? 0)) {
      res.status(500).json({ status: 'ERROR', code: 'LOOKUP_UNAVAILABLE', message: 'the capture store is unavailable' });
      return;
    }
    if (captured) {
      res.json({ status: 'CAPTURED', captureId: captured.captureId, reference: captured.reference, amountMinor: captured.amountMinor, currency: captured.currency, at: captured.at });
      return;
    }
    const stored = key ? captureResults.get(key) : undefined;
    if (stored && stored.body.status === 'FAILED') {
      res.json({ status: 'FAILED', code: stored.body.code, message: stored.body.message });
      return;
    }
    res.status(404).json({ status: 'NOT_FOUND', code: 'NOT_FOUND', message: 'no capture under this key' });
  });

  // Void one reference's share of an authorization.
  app.post('/v1/authorizations/:authorizationId/voids', async (req, res) => {
    const key = keyOf(req, res);
    if (!key) return;
    const body = req.body as Record<string, unknown>;
    const authorizationId = req.params.authorizationId;
    const requestHash = JSON.stringify([authorizationId, body.amountMinor, body.currency, body.reference]);
    if (replayFrom(voidResults, key, requestHash, res)) return;
    const amountMinor = amountOf(body.amountMinor);
    const reference = typeof body.reference === 'string' ? body.reference : '';
    if (amountMinor === undefined || typeof body.currency !== 'string' || reference === '') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'amountMinor, currency and reference are required' });
      return;
    }
    await latency();
    if (replayFrom(voidResults, key, requestHash, res)) return;
    const complete = (status: number, out: Record<string, unknown>) => {
      voidResults.set(key, { requestHash, status, body: out });
      persist({ t: 'void-result', key, requestHash, status, body: out });
      res.status(status).json(out);
    };
    const auth = authorizations.get(authorizationId);
    if (!auth) return complete(404, { status: 'FAILED', code: 'UNKNOWN_AUTHORIZATION', message: 'no such authorization' });
    const timedOut = random() < PROFILES[scenario].timeoutRate;
    const captured = capturedByReference.get(reference);
    const voidThenHang = timedOut && random() < 0.5;
    if (timedOut && !voidThenHang) return hang(res);
    // Not stored under the key: the outcome of the race is re-read each time (still true later).
    if (captured) return res.status(409).json({ status: 'ALREADY_CAPTURED', captureId: captured.captureId, message: 'this reference was captured' });
    const already = voidedByReference.get(reference);
    if (!already) {
      if (Date.now() >= auth.expiresAt) {
        return res.status(410).json({ status: 'FAILED', code: 'AUTHORIZATION_EXPIRED', message: 'the authorization has expired; nothing is held' });
      }
      const entry: VoidLogEntry = { voidId: `void_${randomUUID()}`, authorizationId, reference, idempotencyKey: key, amountMinor: amountMinor.toString(), currency: body.currency, at: new Date().toISOString() };
      applyVoid(entry);
      persist({ t: 'void', entry });
    }
    if (voidThenHang) return hang(res);
    complete(200, { status: 'VOIDED', voidId: (already ?? voidedByReference.get(reference)!).voidId });
  });

  // Refund (part of) a capture.
  app.post('/v1/refunds', async (req, res) => {
    const key = keyOf(req, res);
    if (!key) return;
    const body = req.body as Record<string, unknown>;
    const requestHash = JSON.stringify([body.captureId, body.amountMinor, body.currency]);
    const capture = typeof body.captureId === 'string' ? capturedById.get(body.captureId) : undefined;
    const behaviour = tokenBehaviour(capture ? (authorizations.get(capture.authorizationId)?.token ?? '') : '');
    const timeouts = behaviour.refundTimeouts ?? 0;
    const calls = (refundCalls.get(key) ?? 0) + 1;
    refundCalls.set(key, calls);
    if (calls <= timeouts && refundResults.has(key)) return hang(res);
    if (replayFrom(refundResults, key, requestHash, res)) return;
    const amountMinor = amountOf(body.amountMinor);
    const reference = typeof body.reference === 'string' ? body.reference : '';
    if (amountMinor === undefined || typeof body.currency !== 'string') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'captureId, amountMinor and currency are required' });
      return;
    }
    await latency();
    if (replayFrom(refundResults, key, requestHash, res)) return;
    const complete = (status: number, out: Record<string, unknown>) => {
      refundResults.set(key, { requestHash, status, body: out });
      persist({ t: 'refund-result', key, requestHash, status, body: out });
      res.status(status).json(out);
    };
    const refund = () => {
      const entry: RefundLogEntry = { refundId: `re_${randomUUID()}`, captureId: capture!.captureId, reference, idempotencyKey: key, amountMinor: amountMinor.toString(), currency: body.currency as string, at: new Date().toISOString() };
      applyRefund(entry);
      persist({ t: 'refund', entry });
      const out = { status: 'REFUNDED', refundId: entry.refundId };
      refundResults.set(key, { requestHash, status: 200, body: out });
      persist({ t: 'refund-result', key, requestHash, status: 200, body: out });
      return out;
    };
    if (!capture) return complete(404, { status: 'FAILED', code: 'UNKNOWN_CAPTURE', message: 'no such capture' });
    if (capture.currency !== body.currency) return complete(422, { status: 'FAILED', code: 'CURRENCY_MISMATCH', message: 'currency differs from the capture' });
    if ((refundedOf.get(capture.captureId) ?? 0n) + amountMinor > BigInt(capture.amountMinor)) {
      return complete(422, { status: 'FAILED', code: 'AMOUNT_EXCEEDS_CAPTURE', message: 'refunds would exceed the captured amount' });
    }
    if (behaviour.refundFail) return complete(422, { status: 'FAILED', code: 'REFUND_REJECTED', message: 'the refund was rejected' });
    if (timeouts > 0) {
      refund();
      return hang(res);
    }
    const profile = PROFILES[scenario];
    if (random() < profile.timeoutRate) {
      if (random() < 0.5) refund();
      return hang(res);
    }
    const roll = random();
    if (roll < profile.outcomes[0]) return res.status(200).json(refund());
    if (roll < profile.outcomes[0] + profile.outcomes[1]) return res.status(503).json({ status: 'RETRYABLE', code: 'PSP_TEMPORARILY_UNAVAILABLE', message: 'try again later' });
    return complete(422, { status: 'FAILED', code: 'REFUND_REJECTED', message: 'the refund was rejected' });
  });

  app.get('/v1/refunds/lookup', async (req, res) => {
    const key = typeof req.query.idempotencyKey === 'string' ? req.query.idempotencyKey : undefined;
    if (!key) {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'idempotencyKey is required' });
      return;
    }
    await latency();
    if (random() < PROFILES[scenario].timeoutRate) return hang(res);
    const refunded = refundedByKey.get(key);
    if (refunded) {
      res.json({ status: 'REFUNDED', refundId: refunded.refundId, amountMinor: refunded.amountMinor, currency: refunded.currency, at: refunded.at });
      return;
    }
    const stored = refundResults.get(key);
    if (stored && stored.body.status === 'FAILED') {
      res.json({ status: 'FAILED', code: stored.body.code, message: stored.body.message });
      return;
    }
    res.status(404).json({ status: 'NOT_FOUND', code: 'NOT_FOUND', message: 'no refund under this key' });
  });

  // Test and operator endpoints.
  app.get('/v1/refunds/log', (req, res) => {
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    res.json({ refunds: reference ? refunds.filter((e) => e.reference === reference) : refunds });
  });
  app.get('/v1/captures/log', (req, res) => {
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    res.json({ captures: reference ? log.filter((e) => e.reference === reference) : log });
  });
  app.get('/v1/voids/log', (req, res) => {
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    res.json({ voids: reference ? voids.filter((e) => e.reference === reference) : voids });
  });
  app.put('/v1/scenario', (req, res) => {
    const next = (req.body as Record<string, unknown>).scenario;
    if (!PSP_SCENARIOS.includes(next as PspScenario)) {
      res.status(400).json({ code: 'UNKNOWN_SCENARIO', message: `scenario must be one of ${PSP_SCENARIOS.join(', ')}` });
      return;
    }
    scenario = next as PspScenario;
    res.json({ scenario });
  });

  const moneyOut = mountMoneyOut(app, { captureLog: () => log, refundLog: () => refunds }, { ...options.moneyOut, ...(options.stateFile ? { stateFile: options.stateFile } : {}) });
  return { app, captureLog: () => [...log], voidLog: () => [...voids], refundLog: () => [...refunds], payoutLog: moneyOut.payoutLog, setSettlementFaults: moneyOut.setFaults, setScenario: (s) => (scenario = s) };
}
