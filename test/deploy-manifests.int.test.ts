/**
 * docker-compose.yml and k8s/ validated by scripts/validate-deploy.ts (issues 7 and 18): no
 * container engine or cluster exists here. On the committed files it runs with --boot: every
 * service's whole environment (image ENV + compose environment, or ConfigMap + env + secret
 * placeholders) goes through the real parseConfig, and every service and job of compose and of
 * both overlays is started for real with exactly that environment (addresses remapped to the local
 * stack), each answering all its probe paths (services) or exiting 0 (jobs). The script must also
 * catch each kind of mistake it claims to (a mutated copy each time), including a cross-field rule
 * (the original compose file: dev auth with NODE_ENV=production) and a service that does not boot.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, testEnv } from './support';
import type { Report } from '../scripts/validate-deploy';
import { createDb } from '../db/client';
import { connectTemporalClient } from '../temporal/client';
import { CAPTURE_BOUNDED_BY_AUTHORIZATION, paymentOrderWorkflowId, sellerLedgerWorkflowId, type PaymentOrderInput, type PaymentOrderView } from '../workflows/contracts';
import { seedAuthorizedPayment } from './fixtures';
import { testConfig, uniqueId } from './support';

// beforeAll builds the image tree (npm run build, production dependencies) and boots 18 services and jobs: minutes on a loaded machine.
jest.setTimeout(600_000);

const validate = (root = ROOT, args: string[] = []): { status: number | null; report: Report; stderr: string } => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/validate-deploy.ts'), '--root', root, '--json', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 1_800_000 });
  let report: Report = { problems: [`no report: ${result.stdout.slice(0, 500)} ${result.stderr.slice(0, 2_000)}`], probes: [], checked: [], runs: [], boots: [] };
  try {
    report = JSON.parse(result.stdout) as Report;
  } catch {
    // keep the placeholder, which names what went wrong
  }
  return { status: result.status, report, stderr: result.stderr };
};

describe('deployment files', () => {
  let committed: Report;

  beforeAll(() => {
    const { status, report } = validate(ROOT, ['--boot']);
    committed = report;
    expect({ status, problems: report.problems }).toEqual({ status: 0, problems: [] });
  });

  test('the committed compose file and both overlays validate, with every service and probe covered', () => {
    expect(committed.checked).toEqual(expect.arrayContaining(['docker-compose.yml services.api', 'docker-compose.yml services.worker', 'docker-compose.yml services.aggregator', 'docker-compose.yml services.psp', 'k8s/temporal/values.yaml']));
    expect(committed.checked.filter((c) => c.startsWith('k8s/overlays/'))).toHaveLength(2);
    const entries = new Set(committed.probes.map((p) => p.entry));
    expect([...entries].sort()).toEqual(['aggregator/main.ts', 'api/main.ts', 'psp/simulator.main.ts', 'temporal/worker.main.ts']);
  });

  test('every service and job of compose and of both overlays boots with exactly its environment', () => {
    const compose = ['migrate', 'kafka-setup', 'temporal-setup', 'psp', 'api', 'worker', 'aggregator'].map((s) => `docker-compose.yml services.${s}`);
    const deployments = ['payorch-api', 'payorch-worker', 'payorch-aggregator'];
    const jobs = ['payorch-migrate', 'payorch-temporal-setup'];
    const k8s = (overlay: string, extra: string[] = []) => [...[...deployments, ...extra].map((d) => `k8s/overlays/${overlay} Deployment ${d}`), ...jobs.map((j) => `k8s/overlays/${overlay} Job ${j}`)];
    const expected = [...compose, ...k8s('dev', ['payorch-psp-simulator']), ...k8s('prod')];
    expect(committed.boots.map((b) => b.where).sort()).toEqual([...expected].sort());
    for (const boot of committed.boots) expect(boot.outcome).toMatch(boot.where.includes(' Job ') || /services\.(migrate|kafka-setup|temporal-setup)$/.test(boot.where) ? /^exited 0$/ : /^ready, \/readyz/);
    // Each k8s service answered its liveness path too (compose health checks use /readyz only).
    expect(committed.boots.filter((b) => b.where.includes(' Deployment ')).every((b) => b.outcome.includes('/healthz'))).toBe(true);
    // The image's own ENV is part of every environment (production unless the manifest says otherwise).
    const api = (where: string) => committed.runs.find((r) => r.where === where)!.env;
    expect([api('docker-compose.yml services.api').NODE_ENV, api('k8s/overlays/dev Deployment payorch-api').NODE_ENV, api('k8s/overlays/prod Deployment payorch-api').NODE_ENV]).toEqual(['development', 'development', 'production']);
    expect(api('k8s/overlays/prod Deployment payorch-worker').WORKFLOW_BUNDLE_DIR).toBe('/app/dist/workflow-bundles');
    // Compiled JavaScript, run by node, from a tree holding production dependencies only.
    for (const run of committed.runs) expect(run.command.join(' ')).toMatch(/^node --enable-source-maps dist\/[\w/.-]+\.js$/);
    // (some dev dependencies are also production dependencies of others, e.g. @swc/core of @temporalio/worker)
    for (const tool of ['tsx', 'typescript', 'jest', 'eslint', 'drizzle-kit']) expect(committed.image?.devDependenciesPresent).not.toContain(tool);
  });

  const mutations: Array<{ name: string; file: string; from: string | RegExp; to: string; expect: RegExp }> = [
    { name: 'an env var unknown to config/config.ts (compose)', file: 'docker-compose.yml', from: '      API_PORT: 3000', to: '      API_PORT: 3000\n      API_PROT: 3000', expect: /services\.api: environment variable API_PROT is unknown/ },
    { name: 'an env var unknown to config/config.ts (k8s ConfigMap)', file: 'k8s/base/config.env', from: 'LOG_LEVEL=info', to: 'LOG_LEVEL=info\nLOG_LEVL=debug', expect: /Deployment payorch-api: environment variable LOG_LEVL is unknown/ },
    { name: 'a value the configuration refuses', file: 'k8s/overlays/prod/kustomization.yaml', from: 'PSP_TIMEOUT_MS=5000', to: 'PSP_TIMEOUT_MS=5s', expect: /PSP_TIMEOUT_MS="5s" is refused/ },
    { name: 'a probe on a port the service does not listen on', file: 'k8s/base/api.yaml', from: 'httpGet: { path: /readyz, port: http }', to: 'httpGet: { path: /readyz, port: 8080 }', expect: /probe \/readyz on port 8080, but api\/main\.ts listens on API_PORT=3000/ },
    { name: 'a compose health check on the wrong port', file: 'docker-compose.yml', from: "fetch('http://127.0.0.1:9465/readyz')", to: "fetch('http://127.0.0.1:9464/readyz')", expect: /services\.aggregator: probe \/readyz on port 9464, but aggregator\/main\.ts listens on AGGREGATOR_METRICS_PORT=9465/ },
    { name: 'a misspelt field (kubeconform -strict)', file: 'k8s/base/worker.yaml', from: 'readinessProbe:', to: 'readinesProbe:', expect: /Deployment payorch-worker: invalid: .*readinesProbe/ },
    { name: 'a wrong type in a Strimzi resource', file: 'k8s/base/kafka.yaml', from: 'partitions: 12', to: 'partitions: twelve', expect: /KafkaTopic ledger-entries-recorded: .*partitions must be integer/ },
    { name: 'a topic whose partitions differ from kafka/topics.ts', file: 'k8s/base/kafka.yaml', from: 'partitions: 12', to: 'partitions: 6', expect: /KafkaTopic ledger_entries_recorded_topic has 6 partitions, kafka\/topics\.ts says 12/ },
    { name: 'a worker grace period shorter than its drain', file: 'k8s/base/worker.yaml', from: 'terminationGracePeriodSeconds: 60', to: 'terminationGracePeriodSeconds: 20', expect: /terminationGracePeriodSeconds 20 is not longer than WORKER_SHUTDOWN_GRACE_MS 30000/ },
    { name: 'a command that does not exist', file: 'docker-compose.yml', from: 'command: ["dist/aggregator/main.js"]', to: 'command: ["dist/aggregator/index.js"]', expect: /services\.aggregator: runs dist\/aggregator\/index\.js, built from aggregator\/index\.ts, which does not exist/ },
    { name: 'a service run as TypeScript source (compose)', file: 'docker-compose.yml', from: 'command: ["dist/api/main.js"]', to: 'command: ["api/main.ts"]', expect: /services\.api: runs api\/main\.ts; images run compiled JavaScript/ },
    { name: 'a job run as TypeScript source (k8s)', file: 'k8s/base/jobs.yaml', from: 'args: ["dist/db/migrate.js"]', to: 'args: ["db/migrate.ts"]', expect: /Job payorch-migrate: runs db\/migrate\.ts; images run compiled JavaScript/ },
    { name: 'a build target the Dockerfile lacks', file: 'docker-compose.yml', from: 'target: runtime', to: 'target: production', expect: /build target production is not a stage of the Dockerfile/ },
    { name: 'an entry point the image leaves out', file: '.dockerignore', from: 'bench\n', to: 'bench\npsp\n', expect: /services\.psp: runs dist\/psp\/simulator\.main\.js, built from psp\/simulator\.main\.ts, which \.dockerignore keeps out of the image/ },
    { name: 'a cross-field rule: dev auth with NODE_ENV=production (the compose file before issue 18)', file: 'docker-compose.yml', from: '  NODE_ENV: development', to: '  NODE_ENV: production', expect: /docker-compose\.yml services\.api: parseConfig \(config\/config\.ts\) refuses the environment: AUTH_MODE: must be jwks when NODE_ENV=production/ },
    { name: 'a cross-field rule in an overlay: dev auth without NODE_ENV=development', file: 'k8s/overlays/dev/kustomization.yaml', from: '      - NODE_ENV=development\n', to: '', expect: /k8s\/overlays\/dev Deployment payorch-api: parseConfig \(config\/config\.ts\) refuses the environment: AUTH_MODE: must be jwks when NODE_ENV=production/ },
    { name: 'a secret a service needs but does not get (AUTH_DEV_SECRET with AUTH_MODE=dev)', file: 'k8s/overlays/dev/kustomization.yaml', from: / {2}- patch: \|-\n {6}apiVersion: apps\/v1\n {6}kind: Deployment\n {6}metadata: \{ name: payorch-worker \}\n(?: {6,}.*\n)+/, to: '', expect: /k8s\/overlays\/dev Deployment payorch-worker: parseConfig \(config\/config\.ts\) refuses the environment: AUTH_DEV_SECRET: required when AUTH_MODE=dev/ },
    { name: 'a committed Secret', file: 'k8s/base/kustomization.yaml', from: 'configMapGenerator:', to: 'secretGenerator:\n  - name: leaked\n    literals: [DATABASE_URL=postgres://u:p@h/d]\nconfigMapGenerator:', expect: /contains a Secret/ },
  ];

  test.each(mutations)('catches $name', (m) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-deploy-'));
    try {
      for (const item of ['docker-compose.yml', 'Dockerfile', '.dockerignore', 'k8s', 'deploy', 'observability']) cpSync(path.join(ROOT, item), path.join(dir, item), { recursive: true });
      const file = path.join(dir, m.file);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(typeof m.from === 'string' ? m.from : '');
      writeFileSync(file, text.replace(m.from, m.to));
      const { status, report } = validate(dir);
      expect(status).toBe(1);
      expect(report.problems.join('\n')).toMatch(m.expect);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('catches a service that passes parseConfig but does not boot (the worker with a bundle directory the image lacks)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-deploy-'));
    try {
      for (const item of ['docker-compose.yml', 'Dockerfile', '.dockerignore', 'k8s', 'deploy', 'observability']) cpSync(path.join(ROOT, item), path.join(dir, item), { recursive: true });
      const file = path.join(dir, 'k8s/base/config.env');
      writeFileSync(file, readFileSync(file, 'utf8').replace('WORKFLOW_BUNDLE_DIR=/app/dist/workflow-bundles', 'WORKFLOW_BUNDLE_DIR=/app/dist/no-bundles'));
      const { status, report } = validate(dir, ['--boot', '--no-build', '--only', 'prod Deployment payorch-worker']);
      expect(status).toBe(1);
      expect(report.boots.map((b) => [b.where, b.outcome])).toEqual([['k8s/overlays/prod Deployment payorch-worker', 'failed']]);
      expect(report.problems.join('\n')).toMatch(/k8s\/overlays\/prod Deployment payorch-worker: does not boot with its environment: exited with 1 before \/readyz answered 200[\s\S]*no-bundles/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the worker runs the workflows prebundled as the build makes them (WORKFLOW_BUNDLE_DIR)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-bundles-'));
    const config = testConfig();
    const taskQueue = uniqueId('bundled');
    const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'test-bundles' });
    const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
    let worker: Service | undefined;
    let sellerId: string | undefined;
    try {
      const built = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bundle-workflows.ts'), dir], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      expect(built.status).toBe(0);
      const port = await freePort();
      worker = await startService({ name: 'worker-bundled', entry: 'temporal/worker.main.ts', root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test'), port, env: { ...testEnv().env, WORKER_METRICS_PORT: String(port), WORKER_SDK_METRICS_PORT: '0', TEMPORAL_TASK_QUEUE: taskQueue, WORKFLOW_BUNDLE_DIR: dir } });
      sellerId = uniqueId('seller');
      const [order] = await seedAuthorizedPayment(db, testEnv().pspBaseUrl, { token: 'tok_visa', sellers: [{ sellerId, amountMinor: 2_500n }] });
      const input: PaymentOrderInput = { ...order!, amountMinor: order!.amountMinor.toString(), backoff: { baseMs: 20, capMs: 200, attemptsMax: 3 }, commissionBps: 0, captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION };
      const handle = await client.workflow.start('paymentOrderWorkflow', { taskQueue, workflowId: paymentOrderWorkflowId(order!.paymentOrderId), args: [input] });
      const view: PaymentOrderView = await handle.result();
      expect(view.status).toBe('CAPTURED');
      expect(readFileSync(worker.logFile, 'utf8')).not.toMatch(/Workflow bundle created/); // no webpack at start: the prebuilt bundle ran
    } finally {
      if (worker) await stopService(worker);
      // What that worker left on its own task queue, which no worker polls any more: the seller's
      // ledger (its facts would wait there; terminated, the sweeper starts a new one on the
      // stack's queue) and the Schedules it ensured at start.
      if (sellerId) await client.workflow.getHandle(sellerLedgerWorkflowId(sellerId)).terminate('test over: its task queue has no worker').catch(() => undefined);
      for await (const schedule of client.schedule.list()) {
        if (schedule.scheduleId.endsWith(`@${taskQueue}`)) await client.schedule.getHandle(schedule.scheduleId).delete().catch(() => undefined);
      }
      await client.connection.close();
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
