/**
 * Statuses of a PaymentOrder (one seller's leg) and of the Payment, and the only transitions
 * allowed between them. An illegal transition is a broken invariant, not an expected outcome.
 */
export const PAYMENT_ORDER_STATUSES = [
  'INITIATED_PENDING',
  'CAPTURE_REQUESTED',
  'PENDING_CAPTURE',
  'CAPTURED',
  'CAPTURE_FAILED',
  'DECLINED',
  'VOIDED',
] as const;
export type PaymentOrderStatus = (typeof PAYMENT_ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = ['AUTHORIZED', 'CAPTURED', 'PARTIALLY_CAPTURED', 'CAPTURE_FAILED', 'DECLINED', 'VOIDED', 'PARTIALLY_REFUNDED', 'REFUNDED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** A refund's life: requested, then refunded or failed at the PSP. */
export const REFUND_STATUSES = ['REFUND_REQUESTED', 'REFUNDED', 'REFUND_FAILED'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/**
 * target -> the statuses it may be entered from. PENDING_CAPTURE may follow itself: each further
 * retryable failure updates the attempts and the last PSP error without a new status.
 */
const ALLOWED_FROM: Record<PaymentOrderStatus, readonly PaymentOrderStatus[]> = {
  INITIATED_PENDING: [],
  DECLINED: [],
  // Recorded only by PaymentOrder workflows of the release before captures were bounded by time;
  // the current one goes from INITIATED_PENDING straight to the first capture's outcome.
  CAPTURE_REQUESTED: ['INITIATED_PENDING'],
  PENDING_CAPTURE: ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
  CAPTURED: ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
  CAPTURE_FAILED: ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
  // Cancelled before capture: the order's share of the authorization was voided.
  VOIDED: ['INITIATED_PENDING', 'CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
};

export const FINAL_ORDER_STATUSES: readonly PaymentOrderStatus[] = ['CAPTURED', 'CAPTURE_FAILED', 'DECLINED', 'VOIDED'];

export function allowedPredecessors(to: PaymentOrderStatus): readonly PaymentOrderStatus[] {
  return ALLOWED_FROM[to];
}

export function canTransition(from: PaymentOrderStatus, to: PaymentOrderStatus): boolean {
  return ALLOWED_FROM[to].includes(from);
}

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`illegal PaymentOrder transition ${from} -> ${to}`);
  }
}

/** Asserts a transition; re-entering the same final status is not allowed, the caller checks idempotency. */
export function assertTransition(from: PaymentOrderStatus, to: PaymentOrderStatus): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

/** What the payment's status is derived from, per order: its status, and for refunds its amounts. */
export type OrderForStatus = { status: PaymentOrderStatus; amountMinor?: bigint; refundedMinor?: bigint };

/**
 * The Payment's status follows its orders: AUTHORIZED until every order is final; then, if any
 * order was captured, CAPTURED (all captured) or PARTIALLY_CAPTURED, unless refunds have taken
 * money back - REFUNDED when everything captured was refunded, PARTIALLY_REFUNDED otherwise; if
 * none was captured, VOIDED (all cancelled), DECLINED (all declined) or CAPTURE_FAILED.
 */
export function derivePaymentStatus(orders: readonly (OrderForStatus | PaymentOrderStatus)[]): PaymentStatus {
  if (orders.length === 0) throw new Error('a payment has at least one order');
  const list = orders.map((o) => (typeof o === 'string' ? { status: o } : o));
  if (list.every((o) => o.status === 'DECLINED')) return 'DECLINED';
  if (!list.every((o) => FINAL_ORDER_STATUSES.includes(o.status))) return 'AUTHORIZED';
  const captured = list.filter((o) => o.status === 'CAPTURED');
  if (captured.length === 0) return list.every((o) => o.status === 'VOIDED') ? 'VOIDED' : 'CAPTURE_FAILED';
  const capturedMinor = captured.reduce((sum, o) => sum + (o.amountMinor ?? 0n), 0n);
  const refundedMinor = captured.reduce((sum, o) => sum + (o.refundedMinor ?? 0n), 0n);
  if (refundedMinor > 0n) return refundedMinor >= capturedMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  return captured.length === list.length ? 'CAPTURED' : 'PARTIALLY_CAPTURED';
}
