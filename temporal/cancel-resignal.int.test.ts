/**
 * The relay's cancel re-signal spacing, evaluated by Postgres as the relay does: a sweep every
 * second for an hour after a cancel became due re-signals about once per doubling, not every sweep.
 */
import { sql } from 'drizzle-orm';
import { createDb } from '../db/client';
import { testConfig } from '../test/support';
import { cancelResignalDue } from './payment-order-starter';

test('a cancel is re-signalled at about 0, 1, 2, 4, 8 ... s after it became due: 13 signals in an hour of 1 s sweeps', async () => {
  const { db, pool } = createDb({ url: testConfig().DATABASE_URL, poolMax: 1, applicationName: 'cancel-resignal-test' });
  try {
    const signalledAt = async (tickS: number) => {
      // Sweeps at an arbitrary phase within each tick, for an hour.
      const { rows } = await db.execute<{ s: number }>(
        sql`select s::float8 as s from generate_series(0.3::numeric, 3600, ${tickS}::numeric) as t(s) where ${cancelResignalDue(sql`t.s::float8`, tickS)} order by s`,
      );
      return rows.map((r) => Number(r.s));
    };
    expect(await signalledAt(1)).toEqual([0.3, 1.3, 2.3, 4.3, 8.3, 16.3, 32.3, 64.3, 128.3, 256.3, 512.3, 1024.3, 2048.3]);
    // Slower sweeps: still one signal per window, never two in a row within a tick.
    const every5 = await signalledAt(5);
    expect(every5.length).toBeLessThanOrEqual(13);
    expect(every5[0]).toBe(0.3);
  } finally {
    await pool.end();
  }
});
