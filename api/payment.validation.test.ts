import { validateCreatePayment } from './payment.validation';

const valid = () => ({
  buyerId: 'buyer-1',
  orderId: 'order-1',
  totalAmount: { quantity: 3000, currency: 'EUR' },
  paymentOrders: [
    { sellerId: 'seller-a', amount: { quantity: 1000, currency: 'EUR' } },
    { sellerId: 'seller-b', amount: { quantity: 2000, currency: 'EUR' } },
  ],
  paymentMethod: { token: 'tok_visa' },
});

const errorsOf = (body: unknown) => {
  const result = validateCreatePayment(body);
  if (result.ok) throw new Error('expected the body to be rejected');
  return result.errors;
};

describe('checkout validation', () => {
  test('a valid body passes, with and without a payment method', () => {
    expect(validateCreatePayment(valid()).ok).toBe(true);
    const { paymentMethod: _, ...withoutMethod } = valid();
    expect(validateCreatePayment(withoutMethod).ok).toBe(true);
  });

  test.each([
    ['missing buyerId', (b: any) => delete b.buyerId, '/buyerId', /is required/],
    ['empty orderId', (b: any) => (b.orderId = ''), '/orderId', /1-64 printable/],
    ['orderId of 65 characters', (b: any) => (b.orderId = 'x'.repeat(65)), '/orderId', /1-64 printable/],
    ['control character in buyerId', (b: any) => (b.buyerId = 'a\u0000b'), '/buyerId', /printable/],
    ['zero amount', (b: any) => ((b.totalAmount.quantity = 0), (b.paymentOrders = [{ sellerId: 's', amount: { quantity: 0, currency: 'EUR' } }])), '/totalAmount/quantity', /greater than 0/],
    ['negative amount', (b: any) => (b.paymentOrders[0].amount.quantity = -1000), '/paymentOrders/0/amount/quantity', /greater than 0/],
    ['fractional amount', (b: any) => (b.paymentOrders[0].amount.quantity = 10.5), '/paymentOrders/0/amount/quantity', /integer/],
    ['amount as a string', (b: any) => (b.totalAmount.quantity = '3000'), '/totalAmount/quantity', /integer/],
    ['amount beyond 2^53', (b: any) => (b.totalAmount.quantity = 2 ** 60), '/totalAmount/quantity', /at most 9007199254740991/],
    ['lower-case currency', (b: any) => (b.totalAmount.currency = 'eur'), '/totalAmount/currency', /ISO 4217/],
    ['mixed currencies', (b: any) => (b.paymentOrders[1].amount.currency = 'USD'), '/paymentOrders/1/amount/currency', /must equal the currency of totalAmount/],
    ['sum differs from total', (b: any) => (b.totalAmount.quantity = 3001), '/paymentOrders', /add up to 3000, but totalAmount.quantity is 3001/],
    ['no payment orders', (b: any) => ((b.paymentOrders = []), (b.totalAmount.quantity = 1)), '/paymentOrders', /at least 1/],
    ['51 payment orders', (b: any) => ((b.paymentOrders = Array.from({ length: 51 }, (_, i) => ({ sellerId: `s${i}`, amount: { quantity: 1, currency: 'EUR' } }))), (b.totalAmount.quantity = 51)), '/paymentOrders', /at most 50/],
    ['seller twice', (b: any) => (b.paymentOrders[1].sellerId = 'seller-a'), '/paymentOrders/1/sellerId', /at most once/],
    ['unknown field', (b: any) => (b.discount = 5), '/discount', /not a known field/],
    ['__proto__ key', (b: any) => Object.defineProperty(b, '__proto__', { value: { admin: true }, enumerable: true }), '/__proto__', /not a known field/],
    ['bad token', (b: any) => (b.paymentMethod.token = 'tok visa!'), '/paymentMethod/token', /A-Za-z0-9_/],
    ['paymentOrders not an array', (b: any) => (b.paymentOrders = { sellerId: 'x' }), '/paymentOrders', /must be an array/],
  ])('%s', (_name, mutate, pointer, detail) => {
    const body = valid();
    mutate(body);
    const errors = errorsOf(body);
    expect(errors).toEqual(expect.arrayContaining([expect.objectContaining({ pointer, detail: expect.stringMatching(detail) })]));
  });

  test('every violated rule is listed in one answer', () => {
    const body: any = valid();
    body.buyerId = '';
    body.totalAmount.currency = 'EURO';
    body.paymentOrders[0].amount.quantity = -5;
    body.paymentOrders[1].sellerId = 'seller-a';
    body.extra = true;
    const pointers = errorsOf(body).map((e) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/buyerId', '/totalAmount/currency', '/paymentOrders/0/amount/quantity', '/paymentOrders/1/sellerId', '/extra']));
  });

  test('money must be written as plain integers in the raw body (no exponent, no fraction)', () => {
    for (const text of ['3e3', '3000.0', '3E+3']) {
      const raw = JSON.stringify(valid()).replace('"quantity":3000', `"quantity":${text}`);
      const result = validateCreatePayment(JSON.parse(raw), raw);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.map((e) => e.detail).join()).toMatch(new RegExp(`without fraction or exponent \\(found ${text.replace('+', '\\+')}\\)`));
    }
    const raw = JSON.stringify(valid());
    expect(validateCreatePayment(JSON.parse(raw), raw).ok).toBe(true);
  });

  test('at most 50 violations are listed, then a summary', () => {
    const body: any = { ...valid() };
    for (let i = 0; i < 200; i++) body[`extra${i}`] = i;
    const errors = errorsOf(body);
    expect(errors).toHaveLength(51);
    expect(errors[50]!.detail).toMatch(/and \d+ more violation/);
  });

  test('a body that is not an object is rejected without throwing', () => {
    for (const body of [null, 42, 'text', [], true]) expect(errorsOf(body).length).toBeGreaterThan(0);
  });
});
