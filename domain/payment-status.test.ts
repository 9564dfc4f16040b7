import { assertTransition, canTransition, derivePaymentStatus, IllegalTransitionError, PAYMENT_ORDER_STATUSES, type PaymentOrderStatus } from './payment-status';

describe('PaymentOrder state machine', () => {
  const legal: Array<[PaymentOrderStatus, PaymentOrderStatus]> = [
    ['INITIATED_PENDING', 'CAPTURE_REQUESTED'],
    ['CAPTURE_REQUESTED', 'PENDING_CAPTURE'],
    ['CAPTURE_REQUESTED', 'CAPTURED'],
    ['CAPTURE_REQUESTED', 'CAPTURE_FAILED'],
    ['PENDING_CAPTURE', 'PENDING_CAPTURE'],
    ['PENDING_CAPTURE', 'CAPTURED'],
    ['PENDING_CAPTURE', 'CAPTURE_FAILED'],
    ['CAPTURE_REQUESTED', 'VOIDED'],
    ['INITIATED_PENDING', 'PENDING_CAPTURE'],
    ['INITIATED_PENDING', 'CAPTURED'],
    ['INITIATED_PENDING', 'CAPTURE_FAILED'],
    ['INITIATED_PENDING', 'VOIDED'],
    ['PENDING_CAPTURE', 'VOIDED'],
  ];

  test('exactly the documented transitions are legal', () => {
    for (const from of PAYMENT_ORDER_STATUSES) {
      for (const to of PAYMENT_ORDER_STATUSES) {
        const expected = legal.some(([f, t]) => f === from && t === to);
        expect([from, to, canTransition(from, to)]).toEqual([from, to, expected]);
      }
    }
  });

  test('illegal transitions are rejected loudly', () => {
    expect(() => assertTransition('CAPTURED', 'CAPTURE_FAILED')).toThrow(IllegalTransitionError);
    expect(() => assertTransition('CAPTURE_FAILED', 'CAPTURED')).toThrow(/CAPTURE_FAILED -> CAPTURED/);
    expect(() => assertTransition('CAPTURED', 'VOIDED')).toThrow(IllegalTransitionError);
    expect(() => assertTransition('DECLINED', 'CAPTURE_REQUESTED')).toThrow(IllegalTransitionError);
    expect(() => assertTransition('INITIATED_PENDING', 'CAPTURE_REQUESTED')).not.toThrow();
  });
});

describe('payment status follows its orders', () => {
  test.each([
    [['CAPTURED', 'CAPTURED'], 'CAPTURED'],
    [['CAPTURED', 'PENDING_CAPTURE'], 'AUTHORIZED'],
    [['INITIATED_PENDING'], 'AUTHORIZED'],
    [['CAPTURED', 'CAPTURE_FAILED'], 'PARTIALLY_CAPTURED'],
    [['CAPTURE_FAILED', 'CAPTURE_FAILED'], 'CAPTURE_FAILED'],
    [['DECLINED', 'DECLINED'], 'DECLINED'],
    [['VOIDED', 'VOIDED'], 'VOIDED'],
    [['VOIDED', 'CAPTURE_FAILED'], 'CAPTURE_FAILED'],
    [['CAPTURED', 'VOIDED'], 'PARTIALLY_CAPTURED'],
  ] as Array<[PaymentOrderStatus[], string]>)('%j -> %s', (orders, expected) => {
    expect(derivePaymentStatus(orders)).toBe(expected);
  });

  test('refunds: partially refunded until everything captured has been refunded', () => {
    const captured = (amountMinor: bigint, refundedMinor: bigint) => ({ status: 'CAPTURED' as const, amountMinor, refundedMinor });
    expect(derivePaymentStatus([captured(1_000n, 0n), captured(500n, 0n)])).toBe('CAPTURED');
    expect(derivePaymentStatus([captured(1_000n, 1n), captured(500n, 0n)])).toBe('PARTIALLY_REFUNDED');
    expect(derivePaymentStatus([captured(1_000n, 1_000n), captured(500n, 0n)])).toBe('PARTIALLY_REFUNDED');
    expect(derivePaymentStatus([captured(1_000n, 1_000n), captured(500n, 500n)])).toBe('REFUNDED');
    expect(derivePaymentStatus([captured(1_000n, 1_000n), { status: 'VOIDED' }])).toBe('REFUNDED');
  });

  test('a payment without orders is a broken invariant', () => {
    expect(() => derivePaymentStatus([])).toThrow();
  });
});
