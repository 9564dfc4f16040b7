/**
 * What the stack costs doing nothing: the CPU of each of its components (`scripts/stack`'s pid
 * files, each process with its children) sampled from /proc once a second for a while, with no
 * load. Idle work is paid by every order at low rates (at 10 orders/s, 10 % of a core idle is
 * 10 ms per order).
 *
 *   npm run -s bench:idle -- --seconds 30
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ProcSampler, stackPids } from './proc-sampler';

const DATA_DIR = process.env.PAYORCH_DATA_DIR ?? path.join(__dirname, '..', '.data');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' } } });
  const seconds = Number(values.seconds);
  if (!Number.isInteger(seconds) || seconds < 5 || seconds > 600) {
    console.error(`bench:idle: --seconds must be a whole number in 5..600, got "${values.seconds}"`);
    process.exit(2);
  }
  const pids = stackPids(DATA_DIR);
  if (Object.keys(pids()).length === 0) {
    console.error(`bench:idle: no stack recorded in ${DATA_DIR}/run (start one with scripts/stack up all)`);
    process.exit(2);
  }
  const sampler = new ProcSampler(pids);
  const from = Date.now();
  sampler.start();
  await new Promise((r) => setTimeout(r, seconds * 1_000 + 500));
  sampler.stop();
  const usage = sampler.usage(from, Date.now());
  console.log(`Idle stack over ${seconds} s (CPU in % of one core, mean / max):\n`);
  console.log('| component | CPU mean % | CPU max % | RSS max MiB |\n|---|---:|---:|---:|');
  for (const c of usage.components) console.log(`| ${c.component} | ${c.cpuMeanPct} | ${c.cpuMaxPct} | ${c.rssMaxMiB} |`);
  const total = Math.round(usage.components.reduce((a, c) => a + c.cpuMeanPct, 0) * 10) / 10;
  console.log(`| **total** | **${total}** | | |\n\nwhole machine (2 cores = 100 %): ${usage.machineCpuMeanPct} %`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
