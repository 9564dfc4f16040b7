/**
 * Money is an integer number of minor units plus an ISO 4217 currency code. In code amounts are
 * `bigint`; in JSON they are integers (bounded to the IEEE-754 safe range so no parser rounds them);
 * in Temporal payloads they are decimal strings, because the default converter cannot carry BigInt.
 */
export type Money = { amountMinor: bigint; currency: string };

/** The wire form of the HTTP contract: `{ quantity, currency }`. */
export type MoneyJson = { quantity: number; currency: string };

export const CURRENCY_PATTERN = /^[A-Z]{3}$/;

/** The largest amount the API accepts: beyond it a JSON number is no longer exact. */
export const MAX_AMOUNT_MINOR = BigInt(Number.MAX_SAFE_INTEGER);

export function moneyToJson(money: Money): MoneyJson {
  if (money.amountMinor > MAX_AMOUNT_MINOR || money.amountMinor < -MAX_AMOUNT_MINOR) {
    throw new RangeError(`amount ${money.amountMinor} cannot be represented exactly in JSON`);
  }
  return { quantity: Number(money.amountMinor), currency: money.currency };
}

/** Parses the decimal-string form used in workflow payloads; throws on anything else. */
export function parseMinor(value: string): bigint {
  if (!/^-?(0|[1-9][0-9]*)$/.test(value)) throw new RangeError(`not an integer amount of minor units: ${JSON.stringify(value)}`);
  return BigInt(value);
}
