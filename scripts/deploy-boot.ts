/**
 * The live half of scripts/validate-deploy.ts (--boot): every service and one-shot job of
 * docker-compose.yml and of each rendered overlay is started as its container would start it -
 * the image's ENTRYPOINT and the service's command, with WORKDIR mapped to this checkout - and
 * exactly the environment the validator built, with only its addresses remapped to the local stack
 * (scripts/stack up; settings from .data/stack.env):
 *   DATABASE_URL, REDIS_URL, KAFKA_BROKERS, TEMPORAL_ADDRESS, PSP_BASE_URL, TEMPORAL_UI_URL -> the stack's
 *   API_PORT, *_METRICS_PORT, WORKER_SDK_METRICS_PORT, PSP_PORT -> free local ports (API_BASE_URL follows)
 *   paths under the image's WORKDIR (WORKFLOW_BUNDLE_DIR) -> the same path in this checkout
 * Nothing else is changed or added, except PATH and HOME (a container has them) and
 * PAYORCH_ENV_FILE=/dev/null (a container has no .data/stack.env to fill gaps from).
 *
 * The processes run in the image's filesystem, built as the Dockerfile builds it (prepareImageRoot):
 * `npm run build` here, then dist/ copied next to package.json and the production-only
 * dependencies of the lockfile (`npm install --omit=dev`, what `npm prune --omit=dev` leaves), in
 * .data/image/<lockfile hash>/ - so a runtime import of a dev dependency (tsx, typescript, yaml)
 * fails the boot as it would fail the container.
 *
 * A service must answer /readyz with 200 within the time limit, then every other probe path the
 * manifests point at it; a job must exit 0. The process is then stopped (SIGTERM). Each started
 * service joins the stack's deployment as one more replica would (same database, topic, task queue
 * and consumer group), which the system is built to allow.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { BootResult, Image, Report, ServiceRun } from './validate-deploy';

const LISTEN_PORTS = ['API_PORT', 'WORKER_METRICS_PORT', 'WORKER_SDK_METRICS_PORT', 'AGGREGATOR_METRICS_PORT', 'PSP_PORT'] as const;
const STACK_ADDRESSES = ['DATABASE_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'TEMPORAL_ADDRESS', 'PSP_BASE_URL', 'TEMPORAL_UI_URL'] as const;

function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const dataDirOf = (repo: string): string => process.env.PAYORCH_DATA_DIR ?? path.join(repo, '.data');

/** Builds (or, with build=false, reuses) the image's filesystem; returns its directory (the image's WORKDIR). */
export function prepareImageRoot(repo: string, options: { build: boolean; log: (line: string) => void }): string {
  const hash = createHash('sha256').update(readFileSync(path.join(repo, 'package.json'))).update(readFileSync(path.join(repo, 'package-lock.json'))).digest('hex').slice(0, 16);
  const dir = path.join(dataDirOf(repo), 'image', hash);
  if (!options.build) {
    if (!existsSync(path.join(dir, 'dist'))) throw new Error(`--no-build: no image filesystem at ${dir} yet (run once without --no-build)`);
    return dir;
  }
  const t0 = Date.now();
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 });
  options.log(`image: npm run build (${Math.round((Date.now() - t0) / 1000)}s)`);
  if (!existsSync(path.join(dir, 'node_modules', '.package-lock.json'))) {
    const t1 = Date.now();
    mkdirSync(dir, { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) copyFileSync(path.join(repo, file), path.join(dir, file));
    execFileSync('npm', ['install', '--omit=dev', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 900_000 });
    options.log(`image: production dependencies installed in ${dir} (${Math.round((Date.now() - t1) / 1000)}s)`);
  }
  rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
  cpSync(path.join(repo, 'dist'), path.join(dir, 'dist'), { recursive: true });
  return dir;
}

/** The package.json devDependencies present at the top of the image's node_modules (tsx, typescript, ... must not be). */
export function devDependenciesIn(imageRoot: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(imageRoot, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  return Object.keys(pkg.devDependencies ?? {}).filter((name) => existsSync(path.join(imageRoot, 'node_modules', name, 'package.json')));
}

/** The environment a run gets here: the deployment's, with its addresses remapped (see the header). */
export async function remapForBoot(run: ServiceRun, stack: Record<string, string>, root: string, image: Image): Promise<{ env: Record<string, string>; ports: Record<string, number> }> {
  const env = { ...run.env };
  for (const name of STACK_ADDRESSES) if (name in env) env[name] = stack[name]!;
  const ports: Record<string, number> = {};
  for (const name of LISTEN_PORTS) {
    ports[name] = await freePort();
    env[name] = String(ports[name]);
  }
  if ('API_BASE_URL' in env) env.API_BASE_URL = `http://127.0.0.1:${ports.API_PORT}`;
  const workdir = image.workdir.replace(/\/$/, '');
  for (const [name, value] of Object.entries(env)) if (value.startsWith(`${workdir}/`)) env[name] = path.join(root, value.slice(workdir.length + 1));
  return { env: { ...env, PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PAYORCH_ENV_FILE: '/dev/null' }, ports };
}

const tail = (file: string, lines = 12): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    | ${l.slice(0, 300)}`).join('\n');
  } catch {
    return '    | (no log)';
  }
};

async function bootOne(run: ServiceRun, probePaths: string[], options: { root: string; image: Image; stack: Record<string, string>; logDir: string; timeoutMs: number; probePortVariable: Record<string, string> }): Promise<string | undefined> {
  const { env, ports } = await remapForBoot(run, options.stack, options.root, options.image);
  const [executable, ...args] = run.command;
  if (!executable) return 'no command';
  const logFile = path.join(options.logDir, `${run.where.replace(/[^\w.-]+/g, '_')}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(executable === 'node' ? process.execPath : executable, args, { cwd: options.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? String(signal))));
  let exitCode: number | string | undefined;
  void exited.then((c) => (exitCode = c));
  const deadline = Date.now() + options.timeoutMs;
  const failed = (why: string) => `${why}; command: ${run.command.join(' ')}; log ${logFile}:\n${tail(logFile)}`;
  try {
    if (run.oneShot) {
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), options.timeoutMs).unref())]);
      if (code === 'timeout') return failed(`the job did not finish within ${options.timeoutMs / 1000}s`);
      return code === 0 ? undefined : failed(`the job exited with ${code}`);
    }
    const port = ports[options.probePortVariable[run.entry] ?? ''];
    if (port === undefined) return failed(`${run.entry} has no probe port`);
    let last = 'no answer';
    for (;;) {
      if (exitCode !== undefined) return failed(`exited with ${exitCode} before /readyz answered 200 (last: ${last})`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3_000) });
        last = `${res.status} ${(await res.text()).slice(0, 300)}`;
        if (res.ok) break;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) return failed(`/readyz not 200 within ${options.timeoutMs / 1000}s (last: ${last})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const probePath of probePaths) {
      const res = await fetch(`http://127.0.0.1:${port}${probePath}`, { signal: AbortSignal.timeout(5_000) }).catch((err: Error) => err);
      if (res instanceof Error || !res.ok) return failed(`ready, but ${probePath} answered ${res instanceof Error ? res.message : res.status}`);
    }
    return undefined;
  } finally {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  }
}

/** Boots every run of the report (or those whose `where` matches `only`), one after the other. */
export async function bootAll(report: Report, options: { repo: string; root: string; image: Image; probePortVariable: Record<string, string>; only?: RegExp; log: (line: string) => void; timeoutMs?: number }): Promise<void> {
  const dataDir = dataDirOf(options.repo);
  const envFile = path.join(dataDir, 'stack.env');
  let stack: Record<string, string>;
  try {
    stack = readEnvFile(envFile);
  } catch {
    report.problems.push(`--boot needs the local stack: no ${envFile} (run scripts/stack up)`);
    return;
  }
  const logDir = path.join(dataDir, 'logs', 'validate-deploy');
  mkdirSync(logDir, { recursive: true });
  for (const run of report.runs) {
    if (options.only && !options.only.test(run.where)) continue;
    const probePaths = [...new Set(report.probes.filter((p) => p.where.startsWith(run.where)).map((p) => p.path))];
    const t0 = Date.now();
    const problem = await bootOne(run, probePaths, { root: options.root, image: options.image, stack, logDir, timeoutMs: options.timeoutMs ?? 90_000, probePortVariable: options.probePortVariable });
    const result: BootResult = { where: run.where, entry: run.entry, outcome: problem === undefined ? (run.oneShot ? 'exited 0' : `ready${probePaths.length > 0 ? `, ${probePaths.join(' ')} 200` : ''}`) : 'failed', ms: Date.now() - t0 };
    report.boots.push(result);
    if (problem !== undefined) report.problems.push(`${run.where}: does not boot with its environment: ${problem}`);
    options.log(`boot: ${run.where}: ${result.outcome} (${Math.round(result.ms / 100) / 10}s)`);
  }
}
