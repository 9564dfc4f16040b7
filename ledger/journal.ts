/**
 * Journal entries and the posting rules of a PaymentOrder's life. Pure: no I/O, amounts are
 * bigint minor units, and an entry that does not balance per currency cannot be constructed.
 */
import {
  AUTH_LIABILITY,
  AUTH_RECEIVABLE,
  PLATFORM_CASH,
  PLATFORM_COMMISSION_REVENUE,
  PSP_FEE_EXPENSE,
  PSP_RECEIVABLES,
  merchantPayable,
  type Direction,
} from './accounts';

export const ENTRY_TYPES = ['AUTH_HOLD', 'CAPTURE', 'AUTH_RELEASE', 'REFUND', 'SETTLEMENT', 'PAYOUT', 'PAYOUT_RETURN', 'ADJUSTMENT'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];
/** Entries of a PaymentOrder's life (their id is `{TYPE}:{paymentOrderId}` or `REFUND:{refundId}`). */
export const PAYMENT_ENTRY_TYPES = ['AUTH_HOLD', 'CAPTURE', 'AUTH_RELEASE', 'REFUND'] as const satisfies readonly EntryType[];
/** Money-out entries: their id is `{TYPE}:{subjectId}` (a settlement item, a payout, an adjustment); no payment order. */
export const SUBJECT_ENTRY_TYPES = ['SETTLEMENT', 'PAYOUT', 'PAYOUT_RETURN', 'ADJUSTMENT'] as const satisfies readonly EntryType[];
export const isSubjectEntryType = (t: EntryType): t is (typeof SUBJECT_ENTRY_TYPES)[number] => (SUBJECT_ENTRY_TYPES as readonly string[]).includes(t);

export type Posting = { accountCode: string; direction: Direction; amountMinor: bigint; currency: string };

export type JournalEntry = {
  /**
   * Deterministic: `{TYPE}:{paymentOrderId}`, or `REFUND:{refundId}`, so the same fact can never be
   * recorded twice.
   */
  id: string;
  entryType: EntryType;
  /** Null for money-out entries (SETTLEMENT, PAYOUT, PAYOUT_RETURN, ADJUSTMENT). */
  paymentOrderId: string | null;
  /** The refund a REFUND entry records. */
  refundId?: string;
  /** The settlement item, payout or adjustment a money-out entry records (its id is `{TYPE}:{subjectId}`). */
  subjectId?: string;
  paymentId: string | null;
  sellerId: string;
  postings: readonly Posting[];
};

/** The fact a PaymentOrder workflow reports to its seller's ledger. */
export type LedgerFact = {
  entryType: EntryType;
  paymentOrderId: string | null;
  paymentId: string | null;
  sellerId: string;
  amountMinor: bigint;
  currency: string;
  /** Commission rate in basis points, fixed at checkout (CAPTURE and REFUND use it). */
  commissionBps: number;
  /**
   * A REFUND's context: which refund, what the order captured, and how much of it earlier refunds
   * (in the order they succeeded) took back already. The commission share depends on it.
   */
  refund?: { refundId: string; capturedMinor: bigint; refundedBeforeMinor: bigint };
  /**
   * A money-out entry's subject and figures. SETTLEMENT: a report item (`amountMinor` is the gross,
   * `feeMinor` the PSP's fee; `direction` DEBIT for a settled refund). PAYOUT / PAYOUT_RETURN: a
   * payout of `amountMinor` to `sellerId`. ADJUSTMENT: an operator's correction from one account to
   * another.
   */
  subject?: { subjectId: string; feeMinor?: bigint; direction?: Direction; debitAccount?: string; creditAccount?: string };
};

export class UnbalancedEntryError extends Error {
  override readonly name = 'UnbalancedEntryError';
}

/** `{TYPE}:{subject}`: the paymentOrderId, or for a REFUND the refundId. */
export const journalEntryId = (entryType: EntryType, subjectId: string): string => `${entryType}:${subjectId}`;

/**
 * Builds an entry and asserts the invariants: at least two postings, every amount a positive
 * integer, and debits equal credits in every currency. A violation is a programming error.
 */
export function createJournalEntry(fields: Omit<JournalEntry, 'id'>): JournalEntry {
  if (fields.postings.length < 2) throw new UnbalancedEntryError(`entry ${fields.entryType} needs at least two postings`);
  const net = new Map<string, bigint>();
  for (const p of fields.postings) {
    if (typeof p.amountMinor !== 'bigint' || p.amountMinor <= 0n) {
      throw new UnbalancedEntryError(`posting to ${p.accountCode} must have a positive amount, got ${String(p.amountMinor)}`);
    }
    const signed = p.direction === 'DEBIT' ? p.amountMinor : -p.amountMinor;
    net.set(p.currency, (net.get(p.currency) ?? 0n) + signed);
  }
  for (const [currency, sum] of net) {
    if (sum !== 0n) throw new UnbalancedEntryError(`entry ${fields.entryType}:${fields.paymentOrderId} is off by ${sum} ${currency}`);
  }
  const subject = fields.subjectId ?? fields.refundId ?? fields.paymentOrderId;
  if (subject === null) throw new UnbalancedEntryError(`entry ${fields.entryType} has no subject`);
  return Object.freeze({ ...fields, id: journalEntryId(fields.entryType, subject), postings: Object.freeze([...fields.postings]) });
}

/**
 * The platform's commission on a captured amount. Rounding rule: round down (floor) to the minor
 * unit, so the platform never takes more than its rate and the seller receives the remainder;
 * with 0 <= bps <= 10000 the commission is between 0 and the amount, so the payable is never
 * negative.
 */
export function commissionMinor(amountMinor: bigint, commissionBps: number): bigint {
  if (!Number.isInteger(commissionBps) || commissionBps < 0 || commissionBps > 10_000) {
    throw new RangeError(`commission must be 0..10000 basis points, got ${commissionBps}`);
  }
  if (amountMinor <= 0n) throw new RangeError(`amount must be positive, got ${amountMinor}`);
  return (amountMinor * BigInt(commissionBps)) / 10_000n; // bigint division truncates; both are >= 0, so this is floor
}

/**
 * The commission a refund takes back. Rounding rule: the commission reversed by all refunds up to
 * and including this one is floor(C · R / A), where C is the order's commission, A what it
 * captured and R the refunds' running total; each refund reverses the difference between that and
 * the same figure before it. So a refund never reverses more than its proportion (rounded down, in
 * the platform's disfavour, as the commission itself was rounded), refunds of the whole capture
 * reverse exactly C - never more, never less - and the order of refunds cannot change the total.
 */
export function refundCommissionShareMinor(refund: { amountMinor: bigint; capturedMinor: bigint; refundedBeforeMinor: bigint; commissionBps: number }): bigint {
  const { amountMinor, capturedMinor, refundedBeforeMinor } = refund;
  if (amountMinor <= 0n) throw new RangeError(`refund must be positive, got ${amountMinor}`);
  if (refundedBeforeMinor < 0n || refundedBeforeMinor + amountMinor > capturedMinor) {
    throw new RangeError(`refunds of ${refundedBeforeMinor + amountMinor} exceed the captured ${capturedMinor}`);
  }
  const commission = commissionMinor(capturedMinor, refund.commissionBps);
  const reversedUpTo = (refundedMinor: bigint) => (commission * refundedMinor) / capturedMinor;
  return reversedUpTo(refundedBeforeMinor + amountMinor) - reversedUpTo(refundedBeforeMinor);
}

const debit = (accountCode: string, amountMinor: bigint, currency: string): Posting => ({ accountCode, direction: 'DEBIT', amountMinor, currency });
const credit = (accountCode: string, amountMinor: bigint, currency: string): Posting => ({ accountCode, direction: 'CREDIT', amountMinor, currency });

/** Applies the posting rule of a fact's type. Postings of zero are omitted (amounts are > 0). */
export function postingsFor(fact: LedgerFact): JournalEntry {
  const { amountMinor: amount, currency } = fact;
  let postings: Posting[];
  switch (fact.entryType) {
    case 'AUTH_HOLD':
      postings = [debit(AUTH_RECEIVABLE, amount, currency), credit(AUTH_LIABILITY, amount, currency)];
      break;
    case 'AUTH_RELEASE':
      postings = [debit(AUTH_LIABILITY, amount, currency), credit(AUTH_RECEIVABLE, amount, currency)];
      break;
    case 'CAPTURE': {
      const commission = commissionMinor(amount, fact.commissionBps);
      const payable = amount - commission;
      postings = [
        debit(AUTH_LIABILITY, amount, currency),
        credit(AUTH_RECEIVABLE, amount, currency),
        debit(PSP_RECEIVABLES, amount, currency),
      ];
      if (payable > 0n) postings.push(credit(merchantPayable(fact.sellerId), payable, currency));
      if (commission > 0n) postings.push(credit(PLATFORM_COMMISSION_REVENUE, commission, currency));
      break;
    }
    case 'SETTLEMENT': {
      // Captured money arrives at the platform's bank: DR cash (net) and fee expense (fee) / CR the
      // PSP receivable (gross); a settled refund the other way round.
      const fee = fact.subject?.feeMinor ?? 0n;
      if (fee < 0n || fee > amount) throw new UnbalancedEntryError(`settlement fee ${fee} outside 0..${amount}`);
      const net = amount - fee;
      const inbound = (fact.subject?.direction ?? 'CREDIT') === 'CREDIT';
      postings = [];
      if (net > 0n) postings.push(inbound ? debit(PLATFORM_CASH, net, currency) : credit(PLATFORM_CASH, net, currency));
      if (fee > 0n) postings.push(inbound ? debit(PSP_FEE_EXPENSE, fee, currency) : credit(PSP_FEE_EXPENSE, fee, currency));
      postings.push(inbound ? credit(PSP_RECEIVABLES, amount, currency) : debit(PSP_RECEIVABLES, amount, currency));
      break;
    }
    case 'PAYOUT':
      postings = [debit(merchantPayable(fact.sellerId), amount, currency), credit(PLATFORM_CASH, amount, currency)];
      break;
    case 'PAYOUT_RETURN':
      postings = [debit(PLATFORM_CASH, amount, currency), credit(merchantPayable(fact.sellerId), amount, currency)];
      break;
    case 'ADJUSTMENT': {
      const { debitAccount, creditAccount } = fact.subject ?? {};
      if (!debitAccount || !creditAccount || debitAccount === creditAccount) throw new UnbalancedEntryError('an ADJUSTMENT needs two different accounts');
      postings = [debit(debitAccount, amount, currency), credit(creditAccount, amount, currency)];
      break;
    }
    case 'REFUND': {
      if (!fact.refund) throw new UnbalancedEntryError(`REFUND of ${fact.paymentOrderId} has no refund context`);
      const share = refundCommissionShareMinor({ amountMinor: amount, capturedMinor: fact.refund.capturedMinor, refundedBeforeMinor: fact.refund.refundedBeforeMinor, commissionBps: fact.commissionBps });
      postings = [];
      if (amount - share > 0n) postings.push(debit(merchantPayable(fact.sellerId), amount - share, currency));
      if (share > 0n) postings.push(debit(PLATFORM_COMMISSION_REVENUE, share, currency));
      postings.push(credit(PSP_RECEIVABLES, amount, currency));
      break;
    }
    default: {
      const unknown: never = fact.entryType;
      throw new Error(`unknown entry type ${String(unknown)}`);
    }
  }
  return createJournalEntry({
    entryType: fact.entryType,
    paymentOrderId: fact.paymentOrderId,
    ...(fact.refund ? { refundId: fact.refund.refundId } : {}),
    ...(fact.subject ? { subjectId: fact.subject.subjectId } : {}),
    paymentId: fact.paymentId,
    sellerId: fact.sellerId,
    postings,
  });
}
