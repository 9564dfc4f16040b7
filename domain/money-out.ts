/**
 * Closed lists of money out, defined once (types, zod, SQL checks, OpenAPI, gauges).
 */

/** A payout's life: reserved and sent, then paid or failed; a paid payout may come back. */
export const PAYOUT_STATUSES = ['PAYOUT_REQUESTED', 'PAID', 'FAILED', 'RETURNED'] as const;
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

/**
 * What reconciliation finds: a capture (or refund) we recorded that the PSP has not settled within
 * the allowed time; an item the PSP settled that we do not know; an item whose gross differs from
 * ours; a settled capture whose fee differs from the contracted fee model (RECON_FEE_*).
 */
export const MISMATCH_KINDS = ['captured-not-settled', 'settled-unknown', 'amount-mismatch', 'fee-mismatch', 'duplicate-settlement'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];
