import { combineBalance, decodeBalanceKey, deltasOf, encodeBalanceKey, parseLedgerEvent, PoisonMessageError } from './balances';

const event = (overrides: Record<string, unknown> = {}) => ({
  eventId: 'seller-ledger:s1/run/0',
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

describe('ledger events for the balance aggregator', () => {
  test('a valid event yields signed deltas per (account, currency, stream)', () => {
    const deltas = deltasOf(parseLedgerEvent(JSON.stringify(event())));
    const flat = Object.fromEntries([...deltas].map(([k, v]) => [k, v.map((d) => d.signedMinor)]));
    expect(flat).toEqual({
      'AUTH_LIABILITY|EUR|s1': [-1000n],
      'AUTH_RECEIVABLE|EUR|s1': [-1000n],
      'PSP_RECEIVABLES|EUR|s1': [1000n],
      'MERCHANT_PAYABLE.s1|EUR|s1': [975n],
      'PLATFORM_COMMISSION_REVENUE|EUR|s1': [25n],
    });
  });

  test.each([
    ['not JSON', '{"eventId":'],
    ['empty', null],
    ['wrong type', JSON.stringify(event({ eventType: 'SomethingElse' }))],
    ['float amount', JSON.stringify(event({ data: { ...event().data, entries: [{ ...event().data.entries[0], postings: event().data.entries[0]!.postings.map((p) => ({ ...p, amountMinor: '10.5' })) }] } }))],
    ['numeric amount', JSON.stringify(event({ data: { ...event().data, entries: [{ ...event().data.entries[0], postings: event().data.entries[0]!.postings.map((p) => ({ ...p, amountMinor: 1000 })) }] } }))],
    ['unbalanced entry', JSON.stringify(event({ data: { ...event().data, entries: [{ ...event().data.entries[0], postings: event().data.entries[0]!.postings.slice(0, 4) }] } }))],
    ['another seller\'s account', JSON.stringify(event({ aggregateId: 's2', data: { ...event().data, sellerId: 's2' } }))],
    ['aggregateId differs from sellerId', JSON.stringify(event({ aggregateId: 's9' }))],
  ])('poison: %s', (_name, value) => {
    expect(() => parseLedgerEvent(value)).toThrow(PoisonMessageError);
  });

  test('balance keys round-trip, even with | in a seller id', () => {
    const key = { accountCode: 'MERCHANT_PAYABLE.a|b', currency: 'EUR', streamId: 'a|b' };
    expect(decodeBalanceKey(encodeBalanceKey({ ...key, accountCode: 'X' }))).toEqual({ ...key, accountCode: 'X' });
  });
});

describe('snapshot + Redis reads never double count a fold', () => {
  const redis = (delta: bigint, watermark: bigint, foldingMinor = 0n, foldingWatermark = 0n) => ({ deltaMinor: delta, watermark, foldingMinor, foldingWatermark });
  test('no fold in progress', () => {
    expect(combineBalance({ balanceMinor: 100n, lastPostingId: 10n }, redis(5n, 12n))).toBe(105n);
  });
  test('fold moved out of delta, not yet in Postgres', () => {
    expect(combineBalance({ balanceMinor: 100n, lastPostingId: 10n }, redis(2n, 14n, 5n, 12n))).toBe(107n);
  });
  test('fold already in Postgres, slot not yet cleared', () => {
    expect(combineBalance({ balanceMinor: 105n, lastPostingId: 12n }, redis(2n, 14n, 5n, 12n))).toBe(107n);
  });
  test('Postgres caught up with everything Redis had when read', () => {
    expect(combineBalance({ balanceMinor: 107n, lastPostingId: 14n }, redis(2n, 14n))).toBe(107n);
  });
  test('only a snapshot, or only Redis', () => {
    expect(combineBalance({ balanceMinor: 7n, lastPostingId: 3n }, undefined)).toBe(7n);
    expect(combineBalance(undefined, redis(9n, 4n))).toBe(9n);
  });
});
