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
    expect(() => assertTransition('INITIATED_PENDING', 'CAPTURED')).toThrow(IllegalTransitionError);
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
  ] as Array<[PaymentOrderStatus[], string]>)('%j -> %s', (orders, expected) => {
    expect(derivePaymentStatus(orders)).toBe(expected);
  });

  test('a payment without orders is a broken invariant', () => {
    expect(() => derivePaymentStatus([])).toThrow();
  });
});
