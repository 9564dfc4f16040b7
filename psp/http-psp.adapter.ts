/**
 * Adapter: our PSP port over HTTP, speaking the simulator's wire format. Every call has a hard
 * timeout; a timeout or connection error during capture is a retryable outcome (the idempotency
 * key makes the retry safe even if the PSP did capture), during authorization it is
 * PspUnavailableError.
 */
import type {
  AuthorizeOutcome,
  AuthorizeRequest,
  CaptureOutcome,
  CaptureRequest,
  PaymentServiceProvider,
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

export function createHttpPsp(options: HttpPspOptions): PaymentServiceProvider {
  async function post(path: string, idempotencyKey: string, payload: unknown): Promise<WireResult> {
    // Our own timer (not AbortSignal.timeout) so a timeout is told apart from a connection error
    // reliably, whichever realm the error objects come from.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new PspTimeoutError(options.timeoutMs)), options.timeoutMs);
    let text: string;
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      text = await response.text();
    } catch (err) {
      if (controller.signal.aborted) throw new PspTimeoutError(options.timeoutMs);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    let body: Record<string, unknown> = {};
    try {
      body = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { code: 'MALFORMED_RESPONSE', message: text.slice(0, 200) };
    }
    return { status: response.status, body };
  }

  const str = (v: unknown, fallback: string): string => (typeof v === 'string' && v.length > 0 ? v : fallback);

  return {
    async authorize(request: AuthorizeRequest): Promise<AuthorizeOutcome> {
      let result: WireResult;
      try {
        result = await post('/v1/authorizations', request.idempotencyKey, {
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          token: request.token,
          reference: request.reference,
        });
      } catch (err) {
        const code = err instanceof PspTimeoutError ? 'TIMEOUT' : 'CONNECTION_ERROR';
        throw new PspUnavailableError(`PSP authorization failed: ${code}`, code);
      }
      if (result.status === 200 && result.body.status === 'APPROVED') {
        return { kind: 'approved', authorizationId: str(result.body.authorizationId, 'unknown') };
      }
      if (result.status === 402 || result.body.status === 'DECLINED') {
        return { kind: 'declined', reason: str(result.body.reason, 'declined') };
      }
      throw new PspUnavailableError(`PSP authorization answered ${result.status}`, str(result.body.code, `HTTP_${result.status}`));
    },

    async capture(request: CaptureRequest): Promise<CaptureOutcome> {
      let result: WireResult;
      try {
        result = await post('/v1/captures', request.idempotencyKey, {
          authorizationId: request.authorizationId,
          amountMinor: request.amountMinor.toString(),
          currency: request.currency,
          reference: request.reference,
        });
      } catch (err) {
        const timedOut = err instanceof PspTimeoutError;
        return { kind: 'retryable', code: timedOut ? 'TIMEOUT' : 'CONNECTION_ERROR', message: (err as Error).message };
      }
      const code = str(result.body.code, `HTTP_${result.status}`);
      const message = str(result.body.message, code);
      if (result.status === 200 && result.body.status === 'CAPTURED') {
        return { kind: 'captured', captureId: str(result.body.captureId, 'unknown') };
      }
      // 4xx other than 408/409/429 are final: retrying the same request cannot change the answer.
      if (result.status >= 400 && result.status < 500 && ![408, 409, 429].includes(result.status)) {
        return { kind: 'failed', code, message };
      }
      return { kind: 'retryable', code, message };
    },
  };
}
