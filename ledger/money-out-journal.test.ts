/** Posting rules of money out: SETTLEMENT, PAYOUT, PAYOUT_RETURN, ADJUSTMENT. */
import { PLATFORM_CASH, PSP_FEE_EXPENSE, PSP_RECEIVABLES, merchantPayable } from './accounts';
import { postingsFor, UnbalancedEntryError, type LedgerFact } from './journal';

const base = { paymentOrderId: null, paymentId: null, sellerId: 'seller|1', currency: 'EUR', commissionBps: 0 } as const;
const flat = (fact: LedgerFact) => postingsFor(fact).postings.map((p) => `${p.direction} ${p.accountCode} ${p.amountMinor}`);

describe('money-out posting rules', () => {
  test('a settled capture: DR cash (net) and fee expense (fee) / CR PSP receivables (gross)', () => {
    const entry = postingsFor({ ...base, entryType: 'SETTLEMENT', amountMinor: 10_000n, subject: { subjectId: 'stl_cap_1', feeMinor: 165n } });
    expect(entry.id).toBe('SETTLEMENT:stl_cap_1');
    expect(entry.paymentOrderId).toBeNull();
    expect(flat({ ...base, entryType: 'SETTLEMENT', amountMinor: 10_000n, subject: { subjectId: 'stl_cap_1', feeMinor: 165n } })).toEqual([
      `DEBIT ${PLATFORM_CASH} 9835`,
      `DEBIT ${PSP_FEE_EXPENSE} 165`,
      `CREDIT ${PSP_RECEIVABLES} 10000`,
    ]);
  });
  test('a settled refund goes the other way; a zero fee is omitted', () => {
    expect(flat({ ...base, entryType: 'SETTLEMENT', amountMinor: 3_000n, subject: { subjectId: 'stl_re_1', feeMinor: 0n, direction: 'DEBIT' } })).toEqual([`CREDIT ${PLATFORM_CASH} 3000`, `DEBIT ${PSP_RECEIVABLES} 3000`]);
  });
  test('a fee above the gross is refused', () => {
    expect(() => postingsFor({ ...base, entryType: 'SETTLEMENT', amountMinor: 10n, subject: { subjectId: 's', feeMinor: 11n } })).toThrow(UnbalancedEntryError);
  });
  test('PAYOUT and PAYOUT_RETURN move the payable against cash', () => {
    expect(flat({ ...base, entryType: 'PAYOUT', amountMinor: 500n, subject: { subjectId: 'p1' } })).toEqual([`DEBIT ${merchantPayable('seller|1')} 500`, `CREDIT ${PLATFORM_CASH} 500`]);
    const back = postingsFor({ ...base, entryType: 'PAYOUT_RETURN', amountMinor: 500n, subject: { subjectId: 'p1' } });
    expect(back.id).toBe('PAYOUT_RETURN:p1');
    expect(back.postings.map((p) => `${p.direction} ${p.accountCode}`)).toEqual([`DEBIT ${PLATFORM_CASH}`, `CREDIT ${merchantPayable('seller|1')}`]);
  });
  test('an ADJUSTMENT needs two different accounts', () => {
    expect(flat({ ...base, entryType: 'ADJUSTMENT', amountMinor: 7n, subject: { subjectId: 'a1', debitAccount: PSP_FEE_EXPENSE, creditAccount: PSP_RECEIVABLES } })).toEqual([`DEBIT ${PSP_FEE_EXPENSE} 7`, `CREDIT ${PSP_RECEIVABLES} 7`]);
    expect(() => postingsFor({ ...base, entryType: 'ADJUSTMENT', amountMinor: 7n, subject: { subjectId: 'a1', debitAccount: PLATFORM_CASH, creditAccount: PLATFORM_CASH } })).toThrow(UnbalancedEntryError);
  });
  test('a money-out entry without a subject is refused', () => {
    expect(() => postingsFor({ ...base, entryType: 'PAYOUT', amountMinor: 5n })).toThrow(UnbalancedEntryError);
  });
});
