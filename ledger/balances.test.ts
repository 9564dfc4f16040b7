import fc from 'fast-check';
import { combineBalance, decodeBalanceKey, deltasOf, encodeBalanceKey, encodeStreamId, parseLedgerMessage, PoisonMessageError, type BalanceKey, type RedisBalance } from './balances';
import { merchantPayable } from './accounts';

const event = (overrides: Record<string, unknown> = {}) => ({
  eventId: '3f1c2b1e-1111-4222-8333-444455556666',
  eventType: 'LedgerEntriesRecorded',
  aggregateId: 's1',
  sequence: 1,
  traceId: null,
  occurredAt: '2026-11-22T00:00:00.000Z',
  data: {
    sellerId: 's1',
    entries: [
      {
        journalEntryId: 'CAPTURE:po1',
        entryType: 'CAPTURE',
        paymentOrderId: 'po1',
        paymentId: 'p1',
        postings: [
          { postingId: '11', accountCode: 'AUTH_LIABILITY', direction: 'DEBIT', amountMinor: '1000', currency: 'EUR' },
          { postingId: '12', accountCode: 'AUTH_RECEIVABLE', direction: 'CREDIT', amountMinor: '1000', currency: 'EUR' },
          { postingId: '13', accountCode: 'PSP_RECEIVABLES', direction: 'DEBIT', amountMinor: '1000', currency: 'EUR' },
          { postingId: '14', accountCode: 'MERCHANT_PAYABLE.s1', direction: 'CREDIT', amountMinor: '975', currency: 'EUR' },
          { postingId: '15', accountCode: 'PLATFORM_COMMISSION_REVENUE', direction: 'CREDIT', amountMinor: '25', currency: 'EUR' },
        ],
      },
    ],
  },
  ...overrides,
});
const withPostings = (postings: unknown[]) => ({ data: { ...event().data, entries: [{ ...event().data.entries[0], postings }] } });
const sequenced = (value: string | null) => {
  const message = parseLedgerMessage(value);
  if (message.kind !== 'event') throw new Error('expected a sequenced event');
  return message.event;
};

describe('ledger events for the balance aggregator', () => {
  test('a valid event yields one delta per (account, currency, stream): the signed sum, the highest posting id and its entry', () => {
    const second = { journalEntryId: 'AUTH_HOLD:po2', entryType: 'AUTH_HOLD', paymentOrderId: 'po2', paymentId: 'p2', postings: [
      { postingId: '16', accountCode: 'AUTH_RECEIVABLE', direction: 'DEBIT', amountMinor: '300', currency: 'EUR' },
      { postingId: '17', accountCode: 'AUTH_LIABILITY', direction: 'CREDIT', amountMinor: '300', currency: 'EUR' },
    ] };
    const deltas = deltasOf(sequenced(JSON.stringify(event({ data: { ...event().data, entries: [...event().data.entries, second] } }))));
    const key = (accountCode: string) => encodeBalanceKey({ accountCode, currency: 'EUR', streamId: 's1' });
    expect(Object.fromEntries(deltas)).toEqual({
      [key('AUTH_LIABILITY')]: { sumMinor: -700n, lastPostingId: 17n, lastEntryId: 'AUTH_HOLD:po2' },
      [key('AUTH_RECEIVABLE')]: { sumMinor: -700n, lastPostingId: 16n, lastEntryId: 'AUTH_HOLD:po2' },
      [key('PSP_RECEIVABLES')]: { sumMinor: 1000n, lastPostingId: 13n, lastEntryId: 'CAPTURE:po1' },
      [key('MERCHANT_PAYABLE.s1')]: { sumMinor: 975n, lastPostingId: 14n, lastEntryId: 'CAPTURE:po1' },
      [key('PLATFORM_COMMISSION_REVENUE')]: { sumMinor: 25n, lastPostingId: 15n, lastEntryId: 'CAPTURE:po1' },
    });
  });

  test('an event of the previous version (no sequence) is recognised as such, not as poison', () => {
    const { sequence: _omitted, ...legacy } = event();
    expect(parseLedgerMessage(JSON.stringify(legacy))).toEqual({ kind: 'legacy', eventId: event().eventId, streamId: 's1' });
  });

  test.each([
    ['not JSON', '{"eventId":'],
    ['empty', null],
    ['wrong type', JSON.stringify(event({ eventType: 'SomethingElse' }))],
    ['sequence zero', JSON.stringify(event({ sequence: 0 }))],
    ['sequence not an integer', JSON.stringify(event({ sequence: 1.5 }))],
    ['sequence as a string', JSON.stringify(event({ sequence: '1' }))],
    ['float amount', JSON.stringify(event(withPostings(event().data.entries[0]!.postings.map((p) => ({ ...p, amountMinor: '10.5' })))))],
    ['numeric amount', JSON.stringify(event(withPostings(event().data.entries[0]!.postings.map((p) => ({ ...p, amountMinor: 1000 })))))],
    ['amount above 2^63-1', JSON.stringify(event(withPostings([
      { postingId: '1', accountCode: 'AUTH_RECEIVABLE', direction: 'DEBIT', amountMinor: '9223372036854775808', currency: 'EUR' },
      { postingId: '2', accountCode: 'AUTH_LIABILITY', direction: 'CREDIT', amountMinor: '9223372036854775808', currency: 'EUR' },
    ])))],
    ['one balance\'s sum overflows 64 bits', JSON.stringify(event(withPostings([
      { postingId: '1', accountCode: 'AUTH_RECEIVABLE', direction: 'DEBIT', amountMinor: '9223372036854775807', currency: 'EUR' },
      { postingId: '2', accountCode: 'AUTH_RECEIVABLE', direction: 'DEBIT', amountMinor: '9223372036854775807', currency: 'EUR' },
      { postingId: '3', accountCode: 'AUTH_LIABILITY', direction: 'CREDIT', amountMinor: '9223372036854775807', currency: 'EUR' },
      { postingId: '4', accountCode: 'PSP_RECEIVABLES', direction: 'CREDIT', amountMinor: '9223372036854775807', currency: 'EUR' },
    ])))],
    ['unbalanced entry', JSON.stringify(event(withPostings(event().data.entries[0]!.postings.slice(0, 4))))],
    ["another seller's account", JSON.stringify(event({ aggregateId: 's2', data: { ...event().data, sellerId: 's2' } }))],
    ['aggregateId differs from sellerId', JSON.stringify(event({ aggregateId: 's9' }))],
  ])('poison: %s', (_name, value) => {
    expect(() => parseLedgerMessage(value)).toThrow(PoisonMessageError);
  });
});

describe('balance keys are injective for every seller id the API accepts', () => {
  // The API accepts 1-64 characters that are not Unicode control, format, unassigned or private-use ("\p{C}").
  const sellerId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 64 }).filter((s) => /^[^\p{C}]{1,64}$/u.test(s));
  const awkward = fc.constantFrom('a|b', 'a|EUR|b', '|', 'x:y', '{tag}', '}{', 'two words', ' lead', 'ümlaut-ß', '東京', '🙂|🙂', 'a"b', 'a\\b', '["x"]');
  const anySeller = fc.oneof(sellerId, awkward);
  const keyOf = fc.record({ seller: anySeller, account: fc.constantFrom('seller', 'AUTH_RECEIVABLE', 'PSP_RECEIVABLES', 'X|EUR|Y'), currency: fc.constantFrom('EUR', 'USD') }).map(
    ({ seller, account, currency }): BalanceKey => ({ accountCode: account === 'seller' ? merchantPayable(seller) : account, currency, streamId: seller }),
  );

  test('round trip with |, :, {}, spaces and non-ASCII in the seller id (the account code carries the seller id too)', () => {
    for (const streamId of ['a|b', 'a|USD|b', 'x:y', '{tag}', 'two words', 'ümlaut {ß}: 東京 | 🙂']) {
      const key = { accountCode: merchantPayable(streamId), currency: 'EUR', streamId };
      expect(decodeBalanceKey(encodeBalanceKey(key))).toEqual(key);
    }
    fc.assert(fc.property(keyOf, (key) => expect(decodeBalanceKey(encodeBalanceKey(key))).toEqual(key)));
  });

  test('two different keys never encode alike (the old "a|b|c" encoding did)', () => {
    // Both were "X|EUR|Y|EUR|Z" with a separator that may occur in an id.
    expect(encodeBalanceKey({ accountCode: 'X|EUR|Y', currency: 'EUR', streamId: 'Z' })).not.toBe(encodeBalanceKey({ accountCode: 'X', currency: 'EUR', streamId: 'Y|EUR|Z' }));
    fc.assert(
      fc.property(keyOf, keyOf, (a, b) => {
        const same = a.accountCode === b.accountCode && a.currency === b.currency && a.streamId === b.streamId;
        expect(encodeBalanceKey(a) === encodeBalanceKey(b)).toBe(same);
      }),
      { numRuns: 2_000 },
    );
    fc.assert(fc.property(anySeller, anySeller, (a, b) => expect(encodeStreamId(a) === encodeStreamId(b)).toBe(a === b)));
  });

  test('a balance name that is not an encoded key is refused', () => {
    for (const bad of ['', 'MERCHANT_PAYABLE.s|EUR|s', '["a","EUR"]', '["a","EUR",""]', '[1,2,3]']) expect(() => decodeBalanceKey(bad)).toThrow(/not a balance key/);
  });
});

describe('snapshot + Redis reads never double count a fold, and give up when the two disagree', () => {
  // Postings 11..14 of one balance: +5, +2 (ids 11-12 = 5, 13-14 = 2).
  const redis = (r: Partial<RedisBalance> & Pick<RedisBalance, 'baseId' | 'deltaMinor' | 'watermark'>): RedisBalance => r;
  test('no fold in progress: snapshot at the base', () => {
    expect(combineBalance({ balanceMinor: 100n, lastPostingId: 10n }, redis({ baseId: 10n, deltaMinor: 7n, watermark: 14n }))).toBe(107n);
  });
  test('a fold moved out of the delta, not yet in Postgres', () => {
    expect(combineBalance({ balanceMinor: 100n, lastPostingId: 10n }, redis({ baseId: 12n, deltaMinor: 2n, watermark: 14n, fold: { baseId: 10n, deltaMinor: 5n, watermark: 12n } }))).toBe(107n);
  });
  test('the fold is in Postgres, its slot not yet cleared', () => {
    expect(combineBalance({ balanceMinor: 105n, lastPostingId: 12n }, redis({ baseId: 12n, deltaMinor: 2n, watermark: 14n, fold: { baseId: 10n, deltaMinor: 5n, watermark: 12n } }))).toBe(107n);
  });
  test('Postgres folded everything Redis had when it was read', () => {
    expect(combineBalance({ balanceMinor: 107n, lastPostingId: 14n }, redis({ baseId: 10n, deltaMinor: 7n, watermark: 14n }))).toBe(107n);
  });
  test('no snapshot yet: Redis alone', () => {
    expect(combineBalance(undefined, redis({ baseId: 0n, deltaMinor: 9n, watermark: 4n }))).toBe(9n);
  });
  test('the snapshot is somewhere Redis does not know (Redis rebuilt or rolled back while a fold ran): undefined, never a guess', () => {
    // Old reads added 100 + 7 here although Postgres already held postings 11-12: 112 instead of 107.
    expect(combineBalance({ balanceMinor: 105n, lastPostingId: 12n }, redis({ baseId: 10n, deltaMinor: 7n, watermark: 14n }))).toBeUndefined();
    expect(combineBalance({ balanceMinor: 105n, lastPostingId: 12n }, redis({ baseId: 0n, deltaMinor: 2n, watermark: 14n }))).toBeUndefined();
    expect(combineBalance(undefined, redis({ baseId: 10n, deltaMinor: 2n, watermark: 14n }))).toBeUndefined();
  });
});
