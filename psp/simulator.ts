/**
 * The PSP simulator: a real HTTP service so that activities see real latency, timeouts and
 * connection errors. Behaviour comes from the scenario (latency and outcome distribution) and from
 * deterministic test tokens in the manner of card-network test cards:
 *
 * - `tok_visa` (or any other token): authorization approved; capture follows the scenario.
 * - `tok_chargeDeclined`: authorization declined.
 * - `tok_capture_retry_N`: capture fails transiently N times (per idempotency key), then succeeds.
 * - `tok_capture_fail`: capture fails permanently.
 *
 * Idempotency: a completed authorization or capture (success or final failure) is stored under
 * its Idempotency-Key and replayed for the same key; a transient failure is not stored, so a retry
 * runs again. The capture log records every capture actually applied, so tests can prove that no
 * PaymentOrder was captured twice. State can be persisted to a JSONL file so a restarted simulator
 * remembers authorizations, idempotent results and the capture log.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';

export const PSP_SCENARIOS = ['NORMAL', 'PEAK', 'DEGRADED', 'BEST_PSP_EVER'] as const;
export type PspScenario = (typeof PSP_SCENARIOS)[number];

type ScenarioProfile = {
  latencyMs: [number, number];
  timeoutRate: number;
  /** Of the calls that do not time out: success, retryable, final (sums to 1). */
  outcomes: [number, number, number];
};

const PROFILES: Record<PspScenario, ScenarioProfile> = {
  NORMAL: { latencyMs: [50, 150], timeoutRate: 0, outcomes: [1, 0, 0] },
  PEAK: { latencyMs: [50, 150], timeoutRate: 0.25, outcomes: [0.5, 0.45, 0.05] },
  DEGRADED: { latencyMs: [100, 300], timeoutRate: 0.3, outcomes: [0.5, 0.4, 0.1] },
  BEST_PSP_EVER: { latencyMs: [1, 2], timeoutRate: 0, outcomes: [1, 0, 0] },
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

type Authorization = { authorizationId: string; token: string; amountMinor: bigint; currency: string; capturedMinor: bigint };
type StoredResponse = { requestHash: string; status: number; body: Record<string, unknown> };

type PersistedEvent =
  | { t: 'auth'; key: string; requestHash: string; status: number; body: Record<string, unknown>; token: string; amountMinor: string; currency: string }
  | { t: 'capture-result'; key: string; requestHash: string; status: number; body: Record<string, unknown> }
  | { t: 'capture'; entry: CaptureLogEntry };

export type SimulatorOptions = {
  scenario: PspScenario;
  /** How long a "timeout" holds the request before answering 504. */
  timeoutHoldMs?: number;
  stateFile?: string;
  random?: () => number;
};

export type Simulator = {
  app: express.Express;
  captureLog: () => CaptureLogEntry[];
  setScenario: (s: PspScenario) => void;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createSimulator(options: SimulatorOptions): Simulator {
  let scenario = options.scenario;
  const random = options.random ?? Math.random;
  const timeoutHoldMs = options.timeoutHoldMs ?? 5_000;
  const authorizations = new Map<string, Authorization>();
  const authResults = new Map<string, StoredResponse>();
  const captureResults = new Map<string, StoredResponse>();
  const transientFailures = new Map<string, number>();
  const log: CaptureLogEntry[] = [];

  const persist = (event: PersistedEvent) => {
    if (options.stateFile) appendFileSync(options.stateFile, `${JSON.stringify(event)}\n`);
  };

  function applyCapture(entry: CaptureLogEntry) {
    log.push(entry);
    const auth = authorizations.get(entry.authorizationId);
    if (auth) auth.capturedMinor += BigInt(entry.amountMinor);
  }

  if (options.stateFile && existsSync(options.stateFile)) {
    for (const line of readFileSync(options.stateFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as PersistedEvent;
      if (event.t === 'auth') {
        authResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
        const id = event.body.authorizationId;
        if (typeof id === 'string') {
          authorizations.set(id, { authorizationId: id, token: event.token, amountMinor: BigInt(event.amountMinor), currency: event.currency, capturedMinor: 0n });
        }
      } else if (event.t === 'capture-result') {
        captureResults.set(event.key, { requestHash: event.requestHash, status: event.status, body: event.body });
      } else {
        applyCapture(event.entry);
      }
    }
  }

  const latency = async () => {
    const [lo, hi] = PROFILES[scenario].latencyMs;
    await sleep(lo + random() * (hi - lo));
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
    const stored = authResults.get(key);
    if (stored) {
      if (stored.requestHash !== requestHash) {
        res.status(422).json({ code: 'IDEMPOTENCY_KEY_REUSED', message: 'key reused with a different request' });
        return;
      }
      res.status(stored.status).json(stored.body);
      return;
    }
    const amountMinor = amountOf(body.amountMinor);
    const currency = typeof body.currency === 'string' ? body.currency : '';
    const token = typeof body.token === 'string' ? body.token : '';
    if (amountMinor === undefined || !/^[A-Z]{3}$/.test(currency) || token === '') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'amountMinor, currency and token are required' });
      return;
    }
    await latency();
    let status = 200;
    let out: Record<string, unknown>;
    if (token === 'tok_chargeDeclined') {
      status = 402;
      out = { status: 'DECLINED', reason: 'card_declined' };
    } else {
      const authorizationId = `auth_${randomUUID()}`;
      authorizations.set(authorizationId, { authorizationId, token, amountMinor, currency, capturedMinor: 0n });
      out = { status: 'APPROVED', authorizationId };
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
    const replay = () => {
      const stored = captureResults.get(key);
      if (!stored) return false;
      if (stored.requestHash !== requestHash) {
        res.status(422).json({ code: 'IDEMPOTENCY_KEY_REUSED', message: 'key reused with a different request' });
      } else {
        res.status(stored.status).json(stored.body);
      }
      return true;
    };
    if (replay()) return;
    const amountMinor = amountOf(body.amountMinor);
    const auth = typeof body.authorizationId === 'string' ? authorizations.get(body.authorizationId) : undefined;
    const reference = typeof body.reference === 'string' ? body.reference : '';
    if (amountMinor === undefined || typeof body.currency !== 'string') {
      res.status(400).json({ code: 'INVALID_REQUEST', message: 'amountMinor and currency are required' });
      return;
    }
    await latency();
    if (replay()) return; // a concurrent duplicate may have completed while we waited

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
    if (auth.capturedMinor + amountMinor > auth.amountMinor) {
      return complete(422, { status: 'FAILED', code: 'AMOUNT_EXCEEDS_AUTHORIZATION', message: 'capture exceeds the authorized amount' });
    }

    const token = auth.token;
    if (token === 'tok_capture_fail') {
      return complete(422, { status: 'FAILED', code: 'CAPTURE_REJECTED', message: 'the issuer rejected the capture' });
    }
    const retryMatch = /^tok_capture_retry_(\d+)$/.exec(token);
    if (retryMatch) {
      const failed = transientFailures.get(key) ?? 0;
      if (failed < Number(retryMatch[1])) {
        transientFailures.set(key, failed + 1);
        return transient('PSP_TEMPORARILY_UNAVAILABLE', `transient failure ${failed + 1} of ${retryMatch[1]}`);
      }
      return res.status(200).json(capture());
    }

    const profile = PROFILES[scenario];
    if (random() < profile.timeoutRate) {
      // An ambiguous timeout: half the time the capture happened before the caller gave up. Only
      // the idempotency key keeps the caller's retry from capturing a second time.
      if (random() < 0.5) capture();
      await sleep(timeoutHoldMs);
      if (!res.headersSent && !res.writableEnded) res.status(504).json({ status: 'RETRYABLE', code: 'GATEWAY_TIMEOUT', message: 'timed out' });
      return;
    }
    const roll = random();
    if (roll < profile.outcomes[0]) return res.status(200).json(capture());
    if (roll < profile.outcomes[0] + profile.outcomes[1]) return transient('PSP_TEMPORARILY_UNAVAILABLE', 'try again later');
    return complete(422, { status: 'FAILED', code: 'CAPTURE_REJECTED', message: 'the issuer rejected the capture' });
  });

  // Test and operator endpoints.
  app.get('/v1/captures/log', (req, res) => {
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    res.json({ captures: reference ? log.filter((e) => e.reference === reference) : log });
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

  return { app, captureLog: () => [...log], setScenario: (s) => (scenario = s) };
}
