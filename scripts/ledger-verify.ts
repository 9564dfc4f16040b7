/**
 * Verifies the ledger invariants against the configured database; exits 1 on any violation.
 *
 *   npm run -s ledger:verify -- [--grace-ms 5000] [--json]
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';

// A closed pipe (`ledger:verify | head`) is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'grace-ms': { type: 'string', default: '5000' }, json: { type: 'boolean', default: false } } });
  const graceMs = Number(values['grace-ms']);
  if (!Number.isInteger(graceMs) || graceMs < 0) {
    process.stderr.write('ledger-verify: --grace-ms must be a non-negative whole number\n');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'ledger-verify' });
  try {
    const report = await verifyLedger(db, { graceMs });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      console.log(`ledger: ${report.counts.entries} journal entries, ${report.counts.postings} postings, ${report.counts.orders} payment orders`);
      for (const check of report.checks) {
        console.log(`${check.violations === 0 ? 'ok  ' : 'FAIL'} ${check.name}${check.violations ? ` (${check.violations} violation(s))` : ''}`);
        for (const example of check.examples) console.log(`       ${JSON.stringify(example)}`);
      }
      console.log(report.ok ? 'ledger: all invariants hold' : 'ledger: INVARIANTS VIOLATED');
    }
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ledger-verify: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
