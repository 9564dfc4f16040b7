/* global process, console */
// `npm run build`: the production build, run by the Dockerfile (and by scripts/validate-deploy.ts
// --boot). TypeScript is compiled by tsc into dist/ (tsconfig.build.json: the services, jobs and
// operator tools; no tests, benchmarks or dev tooling), the files the code reads at run time are
// copied next to it (Redis Lua scripts, SQL migrations), and the workflow bundles are built from
// the compiled workflows into dist/workflow-bundles with a manifest of their Temporal SDK
// versions - failing when they differ from the worker's. Services then run `node dist/...`;
// tsx is for development and tests only.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);
const run = (what, args) => {
  const t0 = Date.now();
  try {
    execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`build: ${what} failed`);
    process.exit(1);
  }
  console.log(`build: ${what} (${Math.round((Date.now() - t0) / 1000)}s)`);
};

rmSync(dist, { recursive: true, force: true });
run('tsc -p tsconfig.build.json', [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
for (const file of readdirSync(path.join(root, 'aggregator')).filter((f) => f.endsWith('.lua'))) cpSync(path.join(root, 'aggregator', file), path.join(dist, 'aggregator', file));
cpSync(path.join(root, 'db', 'migrations'), path.join(dist, 'db', 'migrations'), { recursive: true });
for (const needed of ['api/main.js', 'temporal/worker.main.js', 'aggregator/main.js', 'psp/simulator.main.js', 'db/migrate.js', 'scripts/kafka-topics.js', 'scripts/temporal-setup.js', 'db/migrations/meta/_journal.json', 'aggregator/apply.lua']) {
  if (!existsSync(path.join(dist, needed))) {
    console.error(`build: dist/${needed} is missing`);
    process.exit(1);
  }
}
run('workflow bundles (SDK versions checked)', [path.join(dist, 'scripts', 'bundle-workflows.js'), path.join(dist, 'workflow-bundles')]);
