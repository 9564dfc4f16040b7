/**
 * docker-compose.yml and k8s/ validated offline (issue 7), by scripts/validate-deploy.ts: no
 * container engine or cluster exists here. The script must pass on the committed files and must
 * catch each kind of mistake it claims to (a mutated copy each time). Then every health-check and
 * probe path it found is requested from the real service process it targets.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startService, stopService, type Service } from './processes';
import { DATA_DIR, ROOT, testEnv } from './support';
import { PROBE_PORT_VARIABLE, type Report } from '../scripts/validate-deploy';
import { createDb } from '../db/client';
import { connectTemporalClient } from '../temporal/client';
import { CAPTURE_BOUNDED_BY_AUTHORIZATION, paymentOrderWorkflowId, type PaymentOrderInput, type PaymentOrderView } from '../workflows/contracts';
import { seedAuthorizedPayment } from './fixtures';
import { testConfig, uniqueId } from './support';

jest.setTimeout(300_000);

const validate = (root = ROOT): { status: number | null; report: Report; stderr: string } => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/validate-deploy.ts'), '--root', root, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 1_800_000 });
  let report: Report = { problems: [`no report: ${result.stdout.slice(0, 500)} ${result.stderr.slice(0, 2_000)}`], probes: [], checked: [] };
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
    const { status, report } = validate();
    committed = report;
    expect({ status, problems: report.problems }).toEqual({ status: 0, problems: [] });
  });

  test('the committed compose file and both overlays validate, with every service and probe covered', () => {
    expect(committed.checked).toEqual(expect.arrayContaining(['docker-compose.yml services.api', 'docker-compose.yml services.worker', 'docker-compose.yml services.aggregator', 'docker-compose.yml services.psp', 'k8s/temporal/values.yaml']));
    expect(committed.checked.filter((c) => c.startsWith('k8s/overlays/'))).toHaveLength(2);
    const entries = new Set(committed.probes.map((p) => p.entry));
    expect([...entries].sort()).toEqual(['aggregator/main.ts', 'api/main.ts', 'psp/simulator.main.ts', 'temporal/worker.main.ts']);
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
    { name: 'a command that does not exist', file: 'docker-compose.yml', from: 'command: ["aggregator/main.ts"]', to: 'command: ["aggregator/index.ts"]', expect: /services\.aggregator: runs aggregator\/index\.ts, which does not exist/ },
    { name: 'a build target the Dockerfile lacks', file: 'docker-compose.yml', from: 'target: runtime', to: 'target: production', expect: /build target production is not a stage of the Dockerfile/ },
    { name: 'an entry point the image leaves out', file: '.dockerignore', from: 'bench\n', to: 'bench\npsp\n', expect: /services\.psp: runs psp\/simulator\.main\.ts, which \.dockerignore keeps out of the image/ },
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

  test('every health-check and probe path is served by the real process it targets', async () => {
    const byEntry = new Map<string, Set<string>>();
    for (const p of committed.probes) byEntry.set(p.entry, (byEntry.get(p.entry) ?? new Set()).add(p.path));
    const answers: Record<string, number> = {};
    for (const [entry, paths] of byEntry) {
      const port = await freePort();
      let service: Service | undefined;
      try {
        service = await startService({
          name: `probe-${path.basename(entry, '.ts')}`,
          entry,
          root: ROOT,
          logDir: path.join(DATA_DIR, 'logs', 'test'),
          port,
          env: { ...testEnv().env, [PROBE_PORT_VARIABLE[entry]!]: String(port), WORKER_SDK_METRICS_PORT: '0' },
        });
        for (const probePath of paths) answers[`${entry} ${probePath}`] = (await fetch(`http://127.0.0.1:${port}${probePath}`)).status;
      } finally {
        if (service) await stopService(service);
      }
    }
    expect(Object.keys(answers).length).toBeGreaterThanOrEqual(6);
    expect(Object.entries(answers).filter(([, status]) => status !== 200)).toEqual([]);
  });

  test('the worker runs the workflows prebundled as the Dockerfile builds them (WORKFLOW_BUNDLE_DIR)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-bundles-'));
    const config = testConfig();
    const taskQueue = uniqueId('bundled');
    const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'test-bundles' });
    const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
    let worker: Service | undefined;
    try {
      const built = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bundle-workflows.ts'), dir], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      expect(built.status).toBe(0);
      const port = await freePort();
      worker = await startService({ name: 'worker-bundled', entry: 'temporal/worker.main.ts', root: ROOT, logDir: path.join(DATA_DIR, 'logs', 'test'), port, env: { ...testEnv().env, WORKER_METRICS_PORT: String(port), WORKER_SDK_METRICS_PORT: '0', TEMPORAL_TASK_QUEUE: taskQueue, WORKFLOW_BUNDLE_DIR: dir } });
      const [order] = await seedAuthorizedPayment(db, testEnv().pspBaseUrl, { token: 'tok_visa', sellers: [{ sellerId: uniqueId('seller'), amountMinor: 2_500n }] });
      const input: PaymentOrderInput = { ...order!, amountMinor: order!.amountMinor.toString(), backoff: { baseMs: 20, capMs: 200, attemptsMax: 3 }, commissionBps: 0, captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION };
      const handle = await client.workflow.start('paymentOrderWorkflow', { taskQueue, workflowId: paymentOrderWorkflowId(order!.paymentOrderId), args: [input] });
      const view: PaymentOrderView = await handle.result();
      expect(view.status).toBe('CAPTURED');
      expect(readFileSync(worker.logFile, 'utf8')).not.toMatch(/Workflow bundle created/); // no webpack at start: the prebuilt bundle ran
    } finally {
      if (worker) await stopService(worker);
      await client.connection.close();
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
