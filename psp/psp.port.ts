/**
 * The port between our domain and a payment service provider, with normalised outcomes. Adapters
 * (the HTTP client of our simulator, a real PSP later) translate their wire formats into these
 * results. Expected business outcomes are values; only "could not reach the PSP at all during
 * authorization" is an exception, because the caller must answer 503.
 *
 * The four kinds of a money-moving call's outcome:
 * - `captured` / `voided` ...: the PSP did it (definitive);
 * - `rejected`: the PSP refused and will refuse again (definitive);
 * - `retryable`: the PSP said it did NOT do it (a 503 that says so, a rate limit, a connection
 *   refused before anything was sent) — safe to try again later;
 * - `unknown`: we cannot tell (a timeout, a connection lost after sending, a 5xx without a
 *   statement). It may have happened. It is resolved by asking the PSP (lookup) or by retrying
 *   with the same idempotency key — never booked as a failure.
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
  /** `expiresAt` (ISO 8601): when the PSP lets the authorization lapse, when it says so. */
  | { kind: 'approved'; authorizationId: string; expiresAt?: string }
  | { kind: 'declined'; reason: string };

export type CaptureRequest = {
  /** Same key, at most one capture, however often the call is retried. */
  idempotencyKey: string;
  authorizationId: string;
  amountMinor: bigint;
  currency: string;
  /** Our id of the thing captured (the paymentOrderId); lookups may use it. */
  reference: string;
};

/** `code` of a rejection because the authorization has lapsed: a distinct, searchable last error. */
export const AUTHORIZATION_EXPIRED = 'AUTHORIZATION_EXPIRED';

export type PspProblem = { code: string; message: string };

export type CaptureOutcome =
  | { kind: 'captured'; captureId: string }
  | ({ kind: 'rejected' } & PspProblem)
  | ({ kind: 'retryable' } & PspProblem)
  | ({ kind: 'unknown' } & PspProblem);

/** What the PSP knows about a capture, asked by its idempotency key. */
export type CaptureLookup =
  | { kind: 'captured'; captureId: string }
  /** The PSP has no capture under this key: it did not happen. */
  | { kind: 'not_found' }
  /** The PSP answered this key with a definitive refusal earlier. */
  | ({ kind: 'rejected' } & PspProblem)
  | ({ kind: 'unknown' } & PspProblem);

export type VoidRequest = {
  idempotencyKey: string;
  authorizationId: string;
  /** The share of the authorization to release (one PaymentOrder's amount). */
  amountMinor: bigint;
  currency: string;
  /** The PaymentOrder whose share is voided; a capture with this reference can no longer happen. */
  reference: string;
};

export type VoidOutcome =
  | { kind: 'voided' }
  /** The PSP already captured this reference: the void lost the race, the money moved. */
  | { kind: 'already_captured'; captureId: string }
  /** The authorization lapsed at the PSP: nothing is held any more (as good as voided). */
  | { kind: 'expired' }
  | ({ kind: 'rejected' } & PspProblem)
  | ({ kind: 'retryable' } & PspProblem)
  | ({ kind: 'unknown' } & PspProblem);

export type RefundRequest = {
  /** Same key, at most one refund, however often the call is retried. */
  idempotencyKey: string;
  /** The PSP's id of the capture refunded. */
  captureId: string;
  amountMinor: bigint;
  currency: string;
  /** Our id of the refund. */
  reference: string;
};

export type RefundOutcome =
  | { kind: 'refunded'; refundId: string }
  | ({ kind: 'rejected' } & PspProblem)
  | ({ kind: 'retryable' } & PspProblem)
  | ({ kind: 'unknown' } & PspProblem);

export type RefundLookup =
  | { kind: 'refunded'; refundId: string }
  | { kind: 'not_found' }
  | ({ kind: 'rejected' } & PspProblem)
  | ({ kind: 'unknown' } & PspProblem);

export interface PaymentServiceProvider {
  authorize(request: AuthorizeRequest): Promise<AuthorizeOutcome>;
  capture(request: CaptureRequest): Promise<CaptureOutcome>;
  lookupCapture(request: { idempotencyKey: string }): Promise<CaptureLookup>;
  voidAuthorization(request: VoidRequest): Promise<VoidOutcome>;
  refund(request: RefundRequest): Promise<RefundOutcome>;
  lookupRefund(request: { idempotencyKey: string }): Promise<RefundLookup>;
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
