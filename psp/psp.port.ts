/**
 * The port between our domain and a payment service provider: two operations with normalised
 * outcomes. Adapters (the HTTP client of our simulator, a real PSP later) translate their wire
 * formats into these results. Expected business outcomes are values; only "could not reach the
 * PSP at all during authorization" is an exception, because the caller must answer 503.
 */
export type AuthorizeRequest = {
  /** Same key, same authorization: a retried checkout never authorizes twice. */
  idempotencyKey: string;
  amountMinor: bigint;
  currency: string;
  token: string;
  reference: string;
};

export type AuthorizeOutcome =
  | { kind: 'approved'; authorizationId: string }
  | { kind: 'declined'; reason: string };

export type CaptureRequest = {
  /** Same key, at most one capture, however often the call is retried. */
  idempotencyKey: string;
  authorizationId: string;
  amountMinor: bigint;
  currency: string;
  reference: string;
};

export type CaptureOutcome =
  | { kind: 'captured'; captureId: string }
  | { kind: 'retryable'; code: string; message: string }
  | { kind: 'failed'; code: string; message: string };

export interface PaymentServiceProvider {
  authorize(request: AuthorizeRequest): Promise<AuthorizeOutcome>;
  capture(request: CaptureRequest): Promise<CaptureOutcome>;
}

/** The PSP could not be reached or answered nonsense; the API maps it to 503 + Retry-After. */
export class PspUnavailableError extends Error {
  override readonly name = 'PspUnavailableError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}
