/**
 * A settlement day of any size imports: the report is imported in bounded chunks (a day of
 * thousands of items was one statement of 13 parameters an item - past Postgres' 65,535 - and
 * overflowed the SQL builder's stack), and importing it again changes nothing.
 */
import { Client } from 'pg';
import { createMigratedDatabase, dropDatabase } from '../test/databases';
import { stackEnv } from '../test/support';
import { createDb, type DbHandle } from './client';
import { importSettlementReport, SETTLEMENT_IMPORT_CHUNK } from './settlement';
import type { SettlementReportDto } from '../psp/money-out.client';

describe('settlement import of a large day', () => {
  const name = `payorch_stl_${Date.now().toString(36)}`;
  let handle: DbHandle;
  let pg: Client;

  beforeAll(async () => {
    const url = await createMigratedDatabase(stackEnv().DATABASE_URL!, name);
    handle = createDb({ url, poolMax: 2, applicationName: 'settlement-import-test' });
    pg = new Client({ connectionString: url });
    await pg.connect();
  });
  afterAll(async () => {
    await pg.end();
    await handle.pool.end();
    await dropDatabase(stackEnv().DATABASE_URL!, name);
  });

  test('6,001 items (none ours): every one recorded and reported as settled-unknown once; a second import adds nothing', async () => {
    const n = 6_001;
    expect(n).toBeGreaterThan(65_535 / 13); // one statement for the whole day would not even bind
    const report: SettlementReportDto = {
      date: '2026-11-20',
      items: Array.from({ length: n }, (_, i) => ({
        itemId: `stl_big_${i}`,
        kind: 'CAPTURE' as const,
        captureId: `cap_unknown_${i}`,
        reference: `ref-${i}`,
        direction: 'CREDIT' as const,
        grossMinor: '1000',
        feeMinor: '39',
        netMinor: '961',
        currency: 'EUR',
        settledAt: '2026-11-20T12:00:00.000Z',
      })),
      totals: [{ currency: 'EUR', grossMinor: String(1000 * n), feeMinor: String(39 * n), netMinor: String(961 * n), count: n }],
    };
    const first = await importSettlementReport(handle.db, report);
    expect(first).toMatchObject({ items: n, newItems: n, settled: 0, mismatches: n });
    const count = async (q: string) => Number((await pg.query<{ n: string }>(q)).rows[0]!.n);
    expect(await count(`select count(*)::text as n from settlement_items where report_date = '2026-11-20'`)).toBe(n);
    expect(await count(`select count(*)::text as n from reconciliation_mismatches where kind = 'settled-unknown'`)).toBe(n);
    const again = await importSettlementReport(handle.db, report);
    expect(again).toMatchObject({ items: n, newItems: 0, settled: 0, mismatches: 0 });
    expect(await count(`select count(*)::text as n from reconciliation_mismatches`)).toBe(n);
    expect(SETTLEMENT_IMPORT_CHUNK).toBeLessThan(65_535 / 13);
  }, 120_000);
});
