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

describe('REFUND: the commission taken back, in proportion', () => {
  const refund = (amountMinor: bigint, capturedMinor: bigint, refundedBeforeMinor: bigint, commissionBps: number) =>
    postingsFor({ ...fact('REFUND', amountMinor, commissionBps), refund: { refundId: '00000000-0000-4000-8000-0000000000aa', capturedMinor, refundedBeforeMinor } });
  const share = (entry: ReturnType<typeof postingsFor>) => entry.postings.find((p) => p.accountCode === 'PLATFORM_COMMISSION_REVENUE')?.amountMinor ?? 0n;

  test('REFUND:{refundId}: DR seller payable (refund - share), DR commission (share) / CR PSP receivables (refund)', () => {
    // 10,000 captured at 2.5 %: commission 250; a 4,000 refund takes back floor(250·4000/10000) = 100.
    const entry = refund(4_000n, 10_000n, 0n, 250);
    expect(entry.id).toBe('REFUND:00000000-0000-4000-8000-0000000000aa');
    expect(entry.postings).toEqual([
      { accountCode: 'MERCHANT_PAYABLE.seller-1', direction: 'DEBIT', amountMinor: 3_900n, currency: 'EUR' },
      { accountCode: 'PLATFORM_COMMISSION_REVENUE', direction: 'DEBIT', amountMinor: 100n, currency: 'EUR' },
      { accountCode: 'PSP_RECEIVABLES', direction: 'CREDIT', amountMinor: 4_000n, currency: 'EUR' },
    ]);
  });

  test('three refunds of 333 + 333 + 334 of 1,000 at 2.5 % reverse exactly the commission of 25', () => {
    expect([refund(333n, 1_000n, 0n, 250), refund(333n, 1_000n, 333n, 250), refund(334n, 1_000n, 666n, 250)].map(share)).toEqual([8n, 8n, 9n]);
  });

  test('a refund beyond what was captured cannot be built', () => {
    expect(() => refund(1n, 1_000n, 1_000n, 250)).toThrow(RangeError);
    expect(() => postingsFor(fact('REFUND', 10n, 250))).toThrow(/no refund context/);
  });

  test('property: any sequence of refunds balances, never reverses more than the commission, and a full refund reverses exactly it', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 1_000 }), { minLength: 1, maxLength: 20 }),
        (capturedMinor, bps, weights) => {
          // Split the capture into refunds in proportion to the weights (each at least 1 minor unit).
          const total = weights.reduce((s, w) => s + w, 0);
          const parts = weights.map((w) => (capturedMinor * BigInt(w)) / BigInt(total)).filter((p) => p > 0n);
          const rest = capturedMinor - parts.reduce((s, p) => s + p, 0n);
          if (rest > 0n) parts.push(rest);
          const commission = commissionMinor(capturedMinor, bps);
          let before = 0n;
          let reversed = 0n;
          for (const part of parts) {
            const entry = refund(part, capturedMinor, before, bps);
            if (![...netPerCurrency(entry.postings).values()].every((n) => n === 0n)) return false;
            const s = share(entry);
            if (s < 0n || s > part) return false;
            reversed += s;
            before += part;
            if (reversed > commission) return false;
          }
          return before === capturedMinor && reversed === commission;
        },
      ),
    );
  });
});
