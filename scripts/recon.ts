/**
 * Shows the reconciliation mismatches (what the PSP settled against what we recorded) of a day, or
 * every open one; exits 1 when there is any open mismatch. Moves no money.
 *
 *   npm run -s recon -- [--date YYYY-MM-DD] [--all] [--json]
 *
 * `--date` selects mismatches found in that day's report (and captures found unsettled that day);
 * `--all` includes resolved ones (with their resolution).
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { listMismatches } from '../db/settlement';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { date: { type: 'string' }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
  if (values.date !== undefined && (!/^\d{4}-\d{2}-\d{2}$/.test(values.date) || Number.isNaN(Date.parse(`${values.date}T00:00:00Z`)))) {
    process.stderr.write('recon: --date must be YYYY-MM-DD\n');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'recon' });
  try {
    const mismatches = await listMismatches(db, { ...(values.date ? { date: values.date } : {}), includeResolved: values.all, limit: 10_000 });
    const open = mismatches.filter((m) => m.resolvedAt === null);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ date: values.date ?? null, open: open.length, mismatches }, null, 2)}\n`);
    } else {
      const byKind = new Map<string, number>();
      for (const m of open) byKind.set(m.kind, (byKind.get(m.kind) ?? 0) + 1);
      console.log(`reconciliation${values.date ? ` ${values.date}` : ''}: ${open.length} open mismatch(es)${[...byKind].map(([k, n]) => ` ${k}=${n}`).join('')}`);
      for (const m of mismatches) {
        const d = m.details as Record<string, string | undefined>;
        const figures = m.kind === 'amount-mismatch' ? ` psp=${d.grossMinor ?? '?'} ours=${d.oursMinor ?? '?'} ${d.currency ?? ''}` : ` ${d.amountMinor ?? d.grossMinor ?? ''} ${d.currency ?? ''}`;
        console.log(`  #${m.id} ${m.kind} ${m.subjectId} seller=${m.sellerId ?? '-'}${figures}${m.resolvedAt ? ` RESOLVED ${m.resolvedAt}: ${m.resolution}` : ''}`);
      }
    }
    process.exitCode = open.length === 0 ? 0 : 1;
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`recon: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
