/**
 * A PaymentOrder of the previous release whose attempts run out on an ambiguous capture (the PSP
 * captured, every reply timed out) and which finishes on the current worker: it must not end
 * CAPTURE_FAILED + AUTH_RELEASE while the PSP holds its capture. The legacy path hands over to the
 * current code (patch `legacy-capture-exhaustion-hands-over`), which looks the capture up.
 * Runs test/legacy-lost-sale.ts: one process per workflow bundle, as record-histories does.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { ROOT, testConfig, testEnv, waitFor } from './support';

const run = promisify(execFile);

test('an order started by the previous release, ambiguous on its last attempt, ends CAPTURED once with its capture id and entries', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/legacy-lost-sale.ts')], { cwd: ROOT, env: { ...process.env, ...testEnv().env }, timeout: 120_000, maxBuffer: 10 * 1024 * 1024 });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  expect(line).toBeDefined();
  const result = JSON.parse(line!.slice('RESULT '.length)) as { paymentOrderId: string; workflowStatus: string; status: string; pspCaptureId: string | null; pspCaptureIds: string[] };
  expect(result.pspCaptureIds).toHaveLength(1);
  expect(result).toMatchObject({ workflowStatus: 'CAPTURED', status: 'CAPTURED', pspCaptureId: result.pspCaptureIds[0] });
  const pg = new Client({ connectionString: testConfig().DATABASE_URL });
  await pg.connect();
  try {
    const types = await waitFor('the order journaled', async () => {
      const { rows } = await pg.query<{ types: string }>(`select string_agg(entry_type, ',' order by entry_type) as types from journal_entries where payment_order_id = $1`, [result.paymentOrderId]);
      return rows[0]?.types?.includes('CAPTURE') ? rows[0].types : undefined;
    }, 30_000, 250);
    expect(types).toBe('AUTH_HOLD,CAPTURE');
  } finally {
    await pg.end();
  }
}, 150_000);
