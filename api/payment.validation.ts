/**
 * Validation of a checkout request. Every violated rule is reported at once, each with a JSON
 * pointer to the offending field: structural rules (types, sizes, patterns, unknown fields) by
 * the schema, then the cross-field rules of the contract on whatever parts are well-formed.
 */
import { z } from 'zod';
import { CURRENCY_PATTERN } from '../domain/money';
import type { FieldError } from './problem';

export const PAYMENT_ORDERS_MAX = 50;
/** A PSP token; `+` joins the simulator's test behaviours (e.g. tok_auth_expires_60+tok_capture_retry_3). */
export const PAYMENT_TOKEN_PATTERN = /^[A-Za-z0-9_+]{1,64}$/;

export const DEFAULT_PAYMENT_TOKEN = 'tok_visa';

/** A type error says "is required" when the field is missing, else what was expected. */
const expected = (what: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`);

// Printable: no control, format, surrogate or unassigned code points.
const ID_PATTERN = /^[^\p{C}]{1,64}$/u;
const id = z.string({ error: expected('a string') }).regex(ID_PATTERN, { error: 'must be 1-64 printable characters' });

const money = z.strictObject(
  {
    quantity: z
      .number({ error: expected('an integer number of minor units') })
      .int({ error: 'must be an integer number of minor units' })
      .positive({ error: 'must be greater than 0' })
      .max(Number.MAX_SAFE_INTEGER, { error: 'must be at most 9007199254740991' }),
    currency: z.string({ error: expected('a string') }).regex(CURRENCY_PATTERN, { error: 'must be an ISO 4217 code of three upper-case letters' }),
  },
  { error: expected('an object { quantity, currency }') },
);

export const createPaymentSchema = z.strictObject(
  {
    buyerId: id,
    orderId: id,
    totalAmount: money,
    paymentOrders: z
      .array(z.strictObject({ sellerId: id, amount: money }, { error: expected('an object { sellerId, amount }') }), { error: expected('an array') })
      .min(1, { error: 'must contain at least 1 payment order' })
      .max(PAYMENT_ORDERS_MAX, { error: `must contain at most ${PAYMENT_ORDERS_MAX} payment orders` }),
    paymentMethod: z
      .strictObject({ token: z.string({ error: expected('a string') }).regex(PAYMENT_TOKEN_PATTERN, { error: 'must be 1-64 characters of [A-Za-z0-9_+]' }) }, { error: expected('an object { token }') })
      .optional(),
  },
  { error: 'the body must be a JSON object' },
);

export type CreatePaymentRequest = z.infer<typeof createPaymentSchema>;

const pointer = (path: readonly PropertyKey[]): string => (path.length === 0 ? '' : `/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The cross-field rules, applied to the raw body wherever the parts they need are well-formed. */
function crossFieldErrors(body: unknown): FieldError[] {
  if (!isRecord(body) || !Array.isArray(body.paymentOrders)) return [];
  const errors: FieldError[] = [];
  const orders = body.paymentOrders as unknown[];
  const total = isRecord(body.totalAmount) ? body.totalAmount : undefined;
  const totalCurrency = typeof total?.currency === 'string' && CURRENCY_PATTERN.test(total.currency) ? total.currency : undefined;
  const amounts: bigint[] = [];
  const seen = new Map<string, number>();
  orders.forEach((order, i) => {
    if (!isRecord(order)) return;
    const amount = isRecord(order.amount) ? order.amount : undefined;
    if (totalCurrency && typeof amount?.currency === 'string' && CURRENCY_PATTERN.test(amount.currency) && amount.currency !== totalCurrency) {
      errors.push({ pointer: `/paymentOrders/${i}/amount/currency`, detail: `must equal the currency of totalAmount (${totalCurrency}); one payment has one currency` });
    }
    if (typeof amount?.quantity === 'number' && Number.isSafeInteger(amount.quantity) && amount.quantity > 0) amounts.push(BigInt(amount.quantity));
    if (typeof order.sellerId === 'string') {
      const first = seen.get(order.sellerId);
      if (first !== undefined) errors.push({ pointer: `/paymentOrders/${i}/sellerId`, detail: `seller already appears at /paymentOrders/${first}; a seller appears at most once per payment` });
      else seen.set(order.sellerId, i);
    }
  });
  const totalQuantity = total?.quantity;
  if (amounts.length === orders.length && orders.length > 0 && typeof totalQuantity === 'number' && Number.isSafeInteger(totalQuantity) && totalQuantity > 0) {
    const sum = amounts.reduce((a, b) => a + b, 0n);
    if (sum !== BigInt(totalQuantity)) {
      errors.push({ pointer: '/paymentOrders', detail: `the amounts add up to ${sum}, but totalAmount.quantity is ${totalQuantity}` });
    }
  }
  return errors;
}

export type ValidationResult = { ok: true; value: CreatePaymentRequest } | { ok: false; errors: FieldError[] };

/** At most this many violations are listed; a body with more is summarised. */
export const ERRORS_LISTED_MAX = 50;

/**
 * JSON allows `3e3` and `3000.0` for 3000. For money that is ambiguous at best (and a float
 * somewhere upstream at worst), so every `quantity` must be written as a plain integer.
 */
function quantityNotationErrors(raw: string | undefined): FieldError[] {
  if (raw === undefined) return [];
  const errors: FieldError[] = [];
  for (const m of raw.matchAll(/"quantity"\s*:\s*(-?[0-9][0-9.eE+-]*)/g)) {
    if (!/^-?(0|[1-9][0-9]*)$/.test(m[1]!)) {
      errors.push({ pointer: '', detail: `every quantity must be written as a plain integer of minor units, without fraction or exponent (found ${m[1]!.slice(0, 40)})` });
    }
  }
  return errors;
}

/** Schema issues, then the cross-field rules and the raw-notation rule; capped and summarised. */
function validateWith<T>(schema: z.ZodType<T>, body: unknown, raw: string | undefined, crossField: (body: unknown) => FieldError[]): { ok: true; value: T } | { ok: false; errors: FieldError[] } {
  const parsed = schema.safeParse(body);
  const errors: FieldError[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.push({ pointer: pointer([...issue.path, key]), detail: 'is not a known field' });
      } else {
        errors.push({ pointer: pointer(issue.path), detail: issue.message });
      }
    }
  }
  errors.push(...crossField(body));
  errors.push(...quantityNotationErrors(raw));
  if (errors.length > ERRORS_LISTED_MAX) {
    const more = errors.length - ERRORS_LISTED_MAX;
    errors.splice(ERRORS_LISTED_MAX, more, { pointer: '', detail: `and ${more} more violation(s)` });
  }
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, value: parsed.data };
}

export function validateCreatePayment(body: unknown, raw?: string): ValidationResult {
  return validateWith(createPaymentSchema, body, raw, crossFieldErrors);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `POST /api/v1/payments/{paymentId}/refunds`. */
export const createRefundSchema = z.strictObject(
  {
    paymentOrderId: z.string({ error: expected('a string') }).regex(UUID, { error: 'must be the paymentOrderId (a UUID) of an order of this payment' }),
    amount: money,
    reason: z.string({ error: expected('a string') }).regex(/^[^\p{C}]{1,500}$/u, { error: 'must be 1-500 printable characters' }).optional(),
  },
  { error: 'the body must be a JSON object' },
);

export type CreateRefundRequest = z.infer<typeof createRefundSchema>;

export function validateCreateRefund(body: unknown, raw?: string): { ok: true; value: CreateRefundRequest } | { ok: false; errors: FieldError[] } {
  return validateWith(createRefundSchema, body, raw, () => []);
}

/** Validates an Idempotency-Key header value (1-128 chars of [A-Za-z0-9._:-]). */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
