import fc from 'fast-check';
import { signedAmount } from './accounts';
import { commissionMinor, createJournalEntry, postingsFor, UnbalancedEntryError, type EntryType } from './journal';

const fact = (entryType: EntryType, amountMinor: bigint, commissionBps = 0) => ({
  entryType,
  paymentOrderId: '00000000-0000-4000-8000-000000000001',
  paymentId: '00000000-0000-4000-8000-000000000002',
  sellerId: 'seller-1',
  amountMinor,
  currency: 'EUR',
  commissionBps,
});

const netPerCurrency = (postings: readonly { direction: string; amountMinor: bigint; currency: string }[]) => {
  const net = new Map<string, bigint>();
  for (const p of postings) net.set(p.currency, (net.get(p.currency) ?? 0n) + (p.direction === 'DEBIT' ? p.amountMinor : -p.amountMinor));
  return net;
};

describe('posting rules', () => {
  test('AUTH_HOLD: DR AUTH_RECEIVABLE / CR AUTH_LIABILITY', () => {
    const entry = postingsFor(fact('AUTH_HOLD', 1234n));
    expect(entry.id).toBe('AUTH_HOLD:00000000-0000-4000-8000-000000000001');
    expect(entry.postings).toEqual([
      { accountCode: 'AUTH_RECEIVABLE', direction: 'DEBIT', amountMinor: 1234n, currency: 'EUR' },
      { accountCode: 'AUTH_LIABILITY', direction: 'CREDIT', amountMinor: 1234n, currency: 'EUR' },
    ]);
  });

  test('CAPTURE releases the hold and splits the amount between seller and platform', () => {
    const entry = postingsFor(fact('CAPTURE', 10_000n, 250));
    expect(entry.postings).toEqual([
      { accountCode: 'AUTH_LIABILITY', direction: 'DEBIT', amountMinor: 10_000n, currency: 'EUR' },
      { accountCode: 'AUTH_RECEIVABLE', direction: 'CREDIT', amountMinor: 10_000n, currency: 'EUR' },
      { accountCode: 'PSP_RECEIVABLES', direction: 'DEBIT', amountMinor: 10_000n, currency: 'EUR' },
      { accountCode: 'MERCHANT_PAYABLE.seller-1', direction: 'CREDIT', amountMinor: 9_750n, currency: 'EUR' },
      { accountCode: 'PLATFORM_COMMISSION_REVENUE', direction: 'CREDIT', amountMinor: 250n, currency: 'EUR' },
    ]);
  });

  test('CAPTURE with no commission has no commission posting (amounts are > 0)', () => {
    const entry = postingsFor(fact('CAPTURE', 999n, 0));
    expect(entry.postings.map((p) => p.accountCode)).not.toContain('PLATFORM_COMMISSION_REVENUE');
  });

  test('AUTH_RELEASE reverses the hold', () => {
    const entry = postingsFor(fact('AUTH_RELEASE', 50n));
    expect(entry.postings.map((p) => [p.accountCode, p.direction])).toEqual([
      ['AUTH_LIABILITY', 'DEBIT'],
      ['AUTH_RECEIVABLE', 'CREDIT'],
    ]);
  });

  test('commission rounds down to the minor unit', () => {
    expect(commissionMinor(999n, 250)).toBe(24n); // 24.975 -> 24
    expect(commissionMinor(1n, 9_999)).toBe(0n);
    expect(commissionMinor(100n, 10_000)).toBe(100n);
    expect(() => commissionMinor(100n, 10_001)).toThrow(RangeError);
    expect(() => commissionMinor(100n, -1)).toThrow(RangeError);
  });

  test('an unbalanced or non-positive entry cannot be constructed', () => {
    const base = { entryType: 'AUTH_HOLD' as const, paymentOrderId: 'po', paymentId: 'p', sellerId: 's' };
    expect(() => createJournalEntry({ ...base, postings: [{ accountCode: 'A', direction: 'DEBIT', amountMinor: 10n, currency: 'EUR' }, { accountCode: 'B', direction: 'CREDIT', amountMinor: 9n, currency: 'EUR' }] })).toThrow(UnbalancedEntryError);
    expect(() => createJournalEntry({ ...base, postings: [{ accountCode: 'A', direction: 'DEBIT', amountMinor: 10n, currency: 'EUR' }, { accountCode: 'B', direction: 'CREDIT', amountMinor: 10n, currency: 'USD' }] })).toThrow(/off by/);
    expect(() => createJournalEntry({ ...base, postings: [{ accountCode: 'A', direction: 'DEBIT', amountMinor: 0n, currency: 'EUR' }, { accountCode: 'B', direction: 'CREDIT', amountMinor: 0n, currency: 'EUR' }] })).toThrow(/positive/);
    expect(() => createJournalEntry({ ...base, postings: [{ accountCode: 'A', direction: 'DEBIT', amountMinor: 10n, currency: 'EUR' }] })).toThrow(/two postings/);
  });
});

describe('posting rules, properties', () => {
  const arbFact = fc.record({
    entryType: fc.constantFrom<EntryType>('AUTH_HOLD', 'CAPTURE', 'AUTH_RELEASE'),
    amountMinor: fc.bigInt({ min: 1n, max: 2n ** 62n }),
    commissionBps: fc.integer({ min: 0, max: 10_000 }),
  });

  test('every generated entry balances per currency and has only positive postings', () => {
    fc.assert(
      fc.property(arbFact, ({ entryType, amountMinor, commissionBps }) => {
        const entry = postingsFor(fact(entryType, amountMinor, commissionBps));
        return [...netPerCurrency(entry.postings).values()].every((n) => n === 0n) && entry.postings.every((p) => p.amountMinor > 0n);
      }),
    );
  });

  test('commission never makes the seller payable negative, and payable + commission = amount', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 2n ** 62n }), fc.integer({ min: 0, max: 10_000 }), (amountMinor, bps) => {
        const entry = postingsFor(fact('CAPTURE', amountMinor, bps));
        const payable = entry.postings.filter((p) => p.accountCode.startsWith('MERCHANT_PAYABLE.')).reduce((s, p) => s + signedAmount(p.accountCode, p.direction, p.amountMinor), 0n);
        const commission = entry.postings.filter((p) => p.accountCode === 'PLATFORM_COMMISSION_REVENUE').reduce((s, p) => s + p.amountMinor, 0n);
        return payable >= 0n && payable + commission === amountMinor;
      }),
    );
  });

  test('a random batch of entries keeps total debits equal to total credits', () => {
    fc.assert(
      fc.property(fc.array(arbFact, { minLength: 1, maxLength: 50 }), (facts) => {
        const all = facts.flatMap((f) => postingsFor(fact(f.entryType, f.amountMinor, f.commissionBps)).postings);
        return [...netPerCurrency(all).values()].every((n) => n === 0n);
      }),
    );
  });
});
