/**
 * The chart of accounts. An account is identified by its code and a currency (postings carry the
 * currency); balances are kept per (account code, currency).
 */
export const AUTH_RECEIVABLE = 'AUTH_RECEIVABLE';
export const AUTH_LIABILITY = 'AUTH_LIABILITY';
export const PSP_RECEIVABLES = 'PSP_RECEIVABLES';
export const PLATFORM_COMMISSION_REVENUE = 'PLATFORM_COMMISSION_REVENUE';
export const MERCHANT_PAYABLE_PREFIX = 'MERCHANT_PAYABLE.';
/** Money the platform holds at its bank: settlements bring it in, payouts take it out. */
export const PLATFORM_CASH = 'PLATFORM_CASH';
/** What the PSP charged for processing (its settlement fee). */
export const PSP_FEE_EXPENSE = 'PSP_FEE_EXPENSE';

export const merchantPayable = (sellerId: string): string => `${MERCHANT_PAYABLE_PREFIX}${sellerId}`;

export type Direction = 'DEBIT' | 'CREDIT';

/**
 * Which side increases an account. Assets grow with debits; liabilities and revenue with credits.
 * A balance is reported in the account's normal direction, so what we owe a seller is positive.
 */
export function normalSide(accountCode: string): Direction {
  if (accountCode === AUTH_RECEIVABLE || accountCode === PSP_RECEIVABLES || accountCode === PLATFORM_CASH || accountCode === PSP_FEE_EXPENSE) return 'DEBIT';
  return 'CREDIT';
}

/** The signed effect of one posting on its account's balance (in the normal direction). */
export function signedAmount(accountCode: string, direction: Direction, amountMinor: bigint): bigint {
  return direction === normalSide(accountCode) ? amountMinor : -amountMinor;
}

/** The seller that owns an account, if any. */
export function sellerOfAccount(accountCode: string): string | undefined {
  return accountCode.startsWith(MERCHANT_PAYABLE_PREFIX) ? accountCode.slice(MERCHANT_PAYABLE_PREFIX.length) : undefined;
}
