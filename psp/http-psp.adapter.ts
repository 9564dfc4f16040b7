/**
 * Adapter: our PSP port over HTTP, speaking the simulator's wire format. Every call has a hard
 * timeout. How a failed call is read is decided in one place, `readFailure`:
 * - nothing was sent (connection refused, name not resolved): `retryable`;
 * - the PSP said it did not act (HTTP 503 with `status: RETRYABLE`, or 429): `retryable`;
 * - a definitive refusal (4xx other than 408/409/429): `rejected`;
 * - anything else (timeout, connection lost after sending, 408/409, other 5xx, a reply we cannot
 *   parse): `unknown` — it may have happened.
 * During authorization an unreachable or unknown PSP is PspUnavailableError (the API answers 503;
 * the authorization key makes the client's retry safe).
 */
import type {
  AuthorizeOutcome,
  AuthorizeRequest,
  CaptureLookup,
  CaptureOutcome,
  CaptureRequest,
  PaymentServiceProvider,
  PspProblem,
  RefundLookup,
  RefundOutcome,
  RefundRequest,
  VoidOutcome,
  VoidRequest,
} from './psp.port';
import { PspUnavailableError } from './psp.port';

class PspTimeoutError extends Error {
  override readonly name = 'PspTimeoutError';
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

type WireResult = { status: number; body: Record<string, unknown> };

export type HttpPspOptions = { baseUrl: string; timeoutMs: number };

/** Connection errors that prove the request never left this machine. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = e.cause?.code ?? e.code;
  return typeof code === 'string' ? code : undefined;
}

const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v.length > 0 ? v : fallback);

/** The one place where a call that did not succeed is classified. */
export function readFailure(failure: { error: unknown } | { result: WireResult }): ({ kind: 'rejected' | 'retryable' | 'unknown' } & PspProblem) {
  if ('error' in failure) {
    const err = failure.error;
    if (err instanceof PspTimeoutError) return { kind: 'unknown', code: 'TIMEOUT', message: err.message };
    const code = errorCode(err);
    if (code !== undefined && NOT_SENT.has(code)) return { kind: 'retryable', code: 'CONNECTION_REFUSED', message: `${code}: the request was not sent` };
    return { kind: 'unknown', code: 'CONNECTION_LOST', message: `${code ?? 'connection error'}: ${(err as Error).message}`.slice(0, 300) };
  }
  const { status, body } = failure.result;
  const code = str(body.code, `HTTP_${status}`);
  const message = str(body.message, code);
  if ((status === 503 && body.status === 'RETRYABLE') || status === 429) return { kind: 'retryable', code, message };
  if (status >= 400 && status < 500 && status !== 408 && status !== 409) return { kind: 'rejected', code, message };
  return { kind: 'unknown', code, message };
}

export function createHttpPsp(options: HttpPspOptions): PaymentServiceProvider {
  async function call(method: 'GET' | 'POST', path: string, idempotencyKey: string | undefined, payload?: unknown): Promise<WireResult> {
    // Our own timer (not AbortSignal.timeout) so a timeout is told apart from a connection error
    // reliably, whichever realm the error objects come from.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new PspTimeoutError(options.timeoutMs)), options.timeoutMs);
    let text: string;
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), {
        method,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
        signal: controller.signal,
      });
      text = await response.text();
    } catch (err) {
      if (controller.signal.aborted) throw new PspTimeoutError(options.timeoutMs);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    let body: Record<string, unknown>;
    try {
      body = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // A reply we cannot read says nothing about what happened: a 200 becomes a 502 (unknown).
      return { status: response.status >= 400 ? response.status : 502, body: { code: 'MALFORMED_RESPONSE', message: text.slice(0, 200) } };
    }
    return { status: response.status, body };
  }

  /** Runs a call; a thrown transport error comes back as `{ error }`. */
  const attempt = async (run: () => Promise<WireResult>): Promise<{ result: WireResult } | { error: unknown }> => {
    try {
      return { result: await run() };
    } catch (error) {
      return { error };
    }
  };

  return {
    async authorize(request: AuthorizeRequest): Promise<AuthorizeOutcome> {
      const got = await attempt(() =>
        call('POST', '/v1/authorizations', request.idempotencyKey, {
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          token: request.token,
          reference: request.reference,
        }),
      );
      if ('error' in got) {
        const failure = readFailure(got);
        throw new PspUnavailableError(`PSP authorization failed: ${failure.code}`, failure.code);
      }
      const { status, body } = got.result;
      if (status === 200 && body.status === 'APPROVED') {
        const expiresAt = typeof body.expiresAt === 'string' && !Number.isNaN(Date.parse(body.expiresAt)) ? new Date(body.expiresAt).toISOString() : undefined;
        return { kind: 'approved', authorizationId: str(body.authorizationId, 'unknown'), ...(expiresAt ? { expiresAt } : {}) };
      }
      if (status === 402 || body.status === 'DECLINED') return { kind: 'declined', reason: str(body.reason, 'declined') };
      throw new PspUnavailableError(`PSP authorization answered ${status}`, str(body.code, `HTTP_${status}`));
    },

    async capture(request: CaptureRequest): Promise<CaptureOutcome> {
      const got = await attempt(() =>
        call('POST', '/v1/captures', request.idempotencyKey, {
          authorizationId: request.authorizationId,
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          reference: request.reference,
        }),
      );
      if ('result' in got && got.result.status === 200 && got.result.body.status === 'CAPTURED') {
        return { kind: 'captured', captureId: str(got.result.body.captureId, 'unknown') };
      }
      return readFailure(got);
    },

    async lookupCapture(request: { idempotencyKey: string }): Promise<CaptureLookup> {
      const got = await attempt(() => call('GET', `/v1/captures/lookup?idempotencyKey=${encodeURIComponent(request.idempotencyKey)}`, undefined));
      if ('result' in got) {
        const { status, body } = got.result;
        if (status === 200 && body.status === 'CAPTURED') return { kind: 'captured', captureId: str(body.captureId, 'unknown') };
        if (status === 200 && body.status === 'FAILED') return { kind: 'rejected', code: str(body.code, 'REJECTED'), message: str(body.message, 'rejected') };
        if (status === 404 && body.status === 'NOT_FOUND') return { kind: 'not_found' };
      }
      const failure = readFailure(got);
      // A lookup that cannot be answered says nothing about the capture.
      return { kind: 'unknown', code: failure.code, message: failure.message };
    },

    async refund(request: RefundRequest): Promise<RefundOutcome> {
      const got = await attempt(() =>
        call('POST', '/v1/refunds', request.idempotencyKey, {
          captureId: request.captureId,
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          reference: request.reference,
        }),
      );
      if ('result' in got && got.result.status === 200 && got.result.body.status === 'REFUNDED') {
        return { kind: 'refunded', refundId: str(got.result.body.refundId, 'unknown') };
      }
      return readFailure(got);
    },

    async lookupRefund(request: { idempotencyKey: string }): Promise<RefundLookup> {
      const got = await attempt(() => call('GET', `/v1/refunds/lookup?idempotencyKey=${encodeURIComponent(request.idempotencyKey)}`, undefined));
      if ('result' in got) {
        const { status, body } = got.result;
        if (status === 200 && body.status === 'REFUNDED') return { kind: 'refunded', refundId: str(body.refundId, 'unknown') };
        if (status === 200 && body.status === 'FAILED') return { kind: 'rejected', code: str(body.code, 'REJECTED'), message: str(body.message, 'rejected') };
        if (status === 404 && body.status === 'NOT_FOUND') return { kind: 'not_found' };
      }
      const failure = readFailure(got);
      return { kind: 'unknown', code: failure.code, message: failure.message };
    },

    async voidAuthorization(request: VoidRequest): Promise<VoidOutcome> {
      const got = await attempt(() =>
        call('POST', `/v1/authorizations/${encodeURIComponent(request.authorizationId)}/voids`, request.idempotencyKey, {
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          reference: request.reference,
        }),
      );
      if ('result' in got) {
        const { status, body } = got.result;
        if (status === 200 && body.status === 'VOIDED') return { kind: 'voided' };
        if (status === 409 && body.status === 'ALREADY_CAPTURED') return { kind: 'already_captured', captureId: str(body.captureId, 'unknown') };
        if (status === 410 && body.code === 'AUTHORIZATION_EXPIRED') return { kind: 'expired' };
      }
      return readFailure(got);
    },
  };
}
