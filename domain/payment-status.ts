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
] as const;
export type PaymentOrderStatus = (typeof PAYMENT_ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = ['AUTHORIZED', 'CAPTURED', 'PARTIALLY_CAPTURED', 'CAPTURE_FAILED', 'DECLINED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * target -> the statuses it may be entered from. PENDING_CAPTURE may follow itself: each further
 * retryable failure updates the attempts and the last PSP error without a new status.
 */
const ALLOWED_FROM: Record<PaymentOrderStatus, readonly PaymentOrderStatus[]> = {
  INITIATED_PENDING: [],
  DECLINED: [],
  CAPTURE_REQUESTED: ['INITIATED_PENDING'],
  PENDING_CAPTURE: ['CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
  CAPTURED: ['CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
  CAPTURE_FAILED: ['CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
};

export const FINAL_ORDER_STATUSES: readonly PaymentOrderStatus[] = ['CAPTURED', 'CAPTURE_FAILED', 'DECLINED'];

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

/**
 * The Payment's status follows its orders: AUTHORIZED until every order is final, then CAPTURED
 * (all captured), CAPTURE_FAILED (none captured) or PARTIALLY_CAPTURED.
 */
export function derivePaymentStatus(orderStatuses: readonly PaymentOrderStatus[]): PaymentStatus {
  if (orderStatuses.length === 0) throw new Error('a payment has at least one order');
  if (orderStatuses.every((s) => s === 'DECLINED')) return 'DECLINED';
  if (!orderStatuses.every((s) => FINAL_ORDER_STATUSES.includes(s))) return 'AUTHORIZED';
  const captured = orderStatuses.filter((s) => s === 'CAPTURED').length;
  if (captured === orderStatuses.length) return 'CAPTURED';
  if (captured === 0) return 'CAPTURE_FAILED';
  return 'PARTIALLY_CAPTURED';
}
