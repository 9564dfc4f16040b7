/**
 * Offline validation of the deployment files (issue 7): docker-compose.yml, the Dockerfile, k8s/
 * (kustomize base + dev and prod overlays) and the Temporal Helm values. Nothing is started and
 * nothing is downloaded: kustomize and kubeconform are built by `scripts/stack deploy-tools`
 * (go install), the Kubernetes JSON schemas come from the kubernetes-validate wheel on PyPI, the
 * Strimzi schemas from @kubernetes-models/strimzi-kafka-operator (npm).
 *
 * Checks that every service of ours runs a file that exists, with environment variables the
 * configuration module knows and values it accepts; that health checks and probes point at the
 * port the service listens on; that manifests are schema-valid (kubeconform -strict); that Kafka
 * topics match kafka/topics.ts; that the worker's termination grace outlasts its drain.
 *
 * Every service's whole environment is built as it would be at run time - the image's ENV, then
 * compose's `environment`, or the ConfigMaps of `envFrom`, then `env` (secretKeyRefs get
 * placeholders) - and given to the real `parseConfig`, so cross-field rules are checked too.
 * Commands must be compiled JavaScript (dist/...js) built from source the image keeps.
 * With --boot (the stack must be up) the image's filesystem is built as the Dockerfile builds it
 * (npm run build; dist/ next to production-only dependencies), and every service and one-shot job
 * of compose and of each overlay is started for real, as the image runs it (ENTRYPOINT + command,
 * WORKDIR = that directory) with exactly that environment, only its addresses remapped to the
 * local stack (scripts/deploy-boot.ts): a service must answer every probe path with 200, a job
 * must exit 0.
 *
 *   node --import tsx scripts/validate-deploy.ts [--root DIR] [--json] [--boot [--only REGEX] [--no-build]]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, configSchema, parseConfig } from '../config/config';
import { projectTopics } from '../kafka/topics';
import { bootAll, devDependenciesIn, prepareImageRoot } from './deploy-boot';

const REPO = path.resolve(__dirname, '..');

/** The port each service entry point serves its probes on, by configuration variable. */
export const PROBE_PORT_VARIABLE: Record<string, keyof typeof configSchema.shape> = {
  'api/main.ts': 'API_PORT',
  'temporal/worker.main.ts': 'WORKER_METRICS_PORT',
  'aggregator/main.ts': 'AGGREGATOR_METRICS_PORT',
  'psp/simulator.main.ts': 'PSP_PORT',
};

export type Probe = { where: string; entry: string; port: number; path: string };
/** One service or job as the deployment runs it: its command (image ENTRYPOINT + args) and whole environment. */
export type ServiceRun = { where: string; entry: string; command: string[]; env: Record<string, string>; oneShot: boolean };
export type BootResult = { where: string; entry: string; outcome: string; ms: number };
export type Report = { problems: string[]; probes: Probe[]; checked: string[]; runs: ServiceRun[]; boots: BootResult[]; image?: { root: string; devDependenciesPresent: string[] } };

/**
 * Values standing in for the Secret's keys (never committed). Addresses among them are remapped
 * to the local stack by --boot anyway; a secretKeyRef to a key not listed here is a problem.
 */
export const SECRET_PLACEHOLDERS: Record<string, string> = {
  DATABASE_URL: 'postgres://payorch:placeholder@postgres.placeholder:5432/payorch',
  REDIS_URL: 'redis://redis.placeholder:6379',
  AUTH_DEV_SECRET: 'placeholder-dev-signing-key-0123456789abcdef',
};

type Doc = { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown>; data?: Record<string, string> } & Record<string, unknown>;
type Container = {
  name: string;
  image?: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  livenessProbe?: { httpGet?: { path: string; port: number | string } };
  startupProbe?: { httpGet?: { path: string; port: number | string } };
};

const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));

/** Unknown variables, then values the configuration module refuses, of one service's environment. */
function checkEnvironment(where: string, env: Record<string, string>, problems: string[]): ReturnType<typeof configSchema.safeParse> {
  for (const name of Object.keys(env)) if (!CONFIG_KEYS.has(name)) problems.push(`${where}: environment variable ${name} is unknown to config/config.ts`);
  const known = Object.fromEntries(Object.entries(env).filter(([k]) => CONFIG_KEYS.has(k)));
  const parsed = configSchema.safeParse(known);
  if (!parsed.success) for (const issue of parsed.error.issues) problems.push(`${where}: ${issue.path.join('.')}=${JSON.stringify(known[String(issue.path[0])])} is refused by config/config.ts: ${issue.message}`);
  return parsed;
}

/**
 * The whole environment through the real parseConfig (cross-field rules: dev auth in production,
 * FAULT_INJECT in production, ...), after the per-variable schema check passed.
 */
function checkWholeConfig(where: string, env: Record<string, string>, problems: string[]): boolean {
  try {
    parseConfig(env);
    return true;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const line of err.message.split('\n').slice(1)) problems.push(`${where}: parseConfig (config/config.ts) refuses the environment: ${line.trim()}`);
    return false;
  }
}

/** The runtime stage of the Dockerfile: what every container of ours starts from. */
export type Image = { workdir: string; env: Record<string, string>; entrypoint: string[]; cmd: string[] };

export function dockerImage(root: string, target = 'runtime'): Image {
  const lines = readFileSync(path.join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n');
  const stages: string[][] = [];
  const names: string[] = [];
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      stages.push([]);
      names.push((from[1] ?? '').toLowerCase());
    } else stages[stages.length - 1]?.push(line);
  }
  const index = names.lastIndexOf(target.toLowerCase());
  const stage = stages[index >= 0 ? index : stages.length - 1] ?? [];
  const image: Image = { workdir: '/', env: {}, entrypoint: [], cmd: [] };
  for (const line of stage) {
    const m = /^(ENV|WORKDIR|ENTRYPOINT|CMD)\s+(.*)$/i.exec(line.trim());
    if (!m) continue;
    const [, instruction, rest] = m as unknown as [string, string, string];
    if (/^ENV$/i.test(instruction)) for (const pair of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) image.env[pair[1]!] = pair[2]!.replace(/^"|"$/g, '');
    else if (/^WORKDIR$/i.test(instruction)) image.workdir = path.posix.resolve(image.workdir, rest.trim());
    else if (/^ENTRYPOINT$/i.test(instruction)) image.entrypoint = JSON.parse(rest) as string[];
    else image.cmd = JSON.parse(rest) as string[];
  }
  return image;
}

/** The top-level entries .dockerignore keeps out of the image (it lists names, not patterns, here). */
function dockerIgnored(root: string): Set<string> {
  return new Set(readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim().replace(/\/$/, '')).filter((l) => l && !l.startsWith('#')));
}

/** The TypeScript files tsconfig.build.json compiles into dist/ (its `include`: directories and files). */
function buildIncludes(): string[] {
  return (JSON.parse(readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
}

/**
 * A container's command must be compiled JavaScript built from a source file that exists, that
 * the image's build context keeps and that tsconfig.build.json compiles. Returns the source path
 * (api/main.ts for dist/api/main.js), which names the service in reports.
 */
function checkEntry(where: string, command: string | undefined, ignored: Set<string>, problems: string[]): string | undefined {
  if (!command) {
    problems.push(`${where}: no command (expected a compiled entry point such as dist/api/main.js)`);
    return undefined;
  }
  const compiled = /^dist\/(.+)\.js$/.exec(command);
  if (!compiled) {
    problems.push(`${where}: runs ${command}; images run compiled JavaScript (dist/<source>.js, built by npm run build), never TypeScript source`);
    return existsSync(path.join(REPO, command)) ? command : undefined;
  }
  const entry = `${compiled[1]}.ts`;
  const includes = buildIncludes();
  if (!existsSync(path.join(REPO, entry))) problems.push(`${where}: runs ${command}, built from ${entry}, which does not exist`);
  else if (ignored.has(entry.split('/')[0]!) || ignored.has(entry)) problems.push(`${where}: runs ${command}, built from ${entry}, which .dockerignore keeps out of the image`);
  else if (!includes.some((inc) => entry === inc || entry.startsWith(`${inc}/`))) problems.push(`${where}: runs ${command}, but tsconfig.build.json does not compile ${entry}`);
  else return entry;
  return undefined;
}

/** A health check URL or probe on a service of ours: its port must be the one the service listens on. */
function probeOf(where: string, entry: string, config: { [k: string]: unknown }, port: number, probePath: string, problems: string[], probes: Probe[]): void {
  const variable = PROBE_PORT_VARIABLE[entry];
  if (!variable) {
    problems.push(`${where}: ${entry} serves no HTTP probes, but has a probe on ${port}${probePath}`);
    return;
  }
  const listens = Number(config[variable]);
  if (port !== listens) problems.push(`${where}: probe ${probePath} on port ${port}, but ${entry} listens on ${variable}=${listens}`);
  probes.push({ where, entry, port, path: probePath });
}

// ---------------------------------------------------------------------------------------------

function dockerfileStages(root: string): Set<string> {
  const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  return new Set([...text.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]!.toLowerCase()));
}

type ComposeService = {
  image?: string;
  build?: { context?: string; target?: string } | string;
  command?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string };
  restart?: string;
  volumes?: string[];
};

/** ${VAR:-default} as compose resolves it when VAR is unset. */
const interpolate = (value: string): string => value.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '');

export function validateCompose(root: string, report: Report): void {
  const file = path.join(root, 'docker-compose.yml');
  const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as { services?: Record<string, ComposeService> };
  const services = compose.services ?? {};
  const stages = dockerfileStages(root);
  const ignored = dockerIgnored(root);
  const ours = (s: ComposeService) => s.build !== undefined || s.image === 'payorch:local';
  const built = Object.values(services).map((s) => s.build).find((b) => typeof b === 'object');
  const image = dockerImage(root, built?.target ?? 'runtime');
  for (const [name, service] of Object.entries(services)) {
    const where = `docker-compose.yml services.${name}`;
    report.checked.push(where);
    if (!service.image && !service.build) report.problems.push(`${where}: neither image nor build`);
    if (service.image && !ours(service) && !/:[\w][\w.-]*$/.test(service.image)) report.problems.push(`${where}: image ${service.image} has no pinned tag`);
    if (service.image?.endsWith(':latest')) report.problems.push(`${where}: image ${service.image} is not pinned`);
    if (typeof service.build === 'object' && service.build.target && !stages.has(service.build.target.toLowerCase())) report.problems.push(`${where}: build target ${service.build.target} is not a stage of the Dockerfile (${[...stages].join(', ')})`);
    const dependsOn: Record<string, { condition?: string }> = Array.isArray(service.depends_on) ? Object.fromEntries(service.depends_on.map((d) => [d, {}])) : (service.depends_on ?? {});
    for (const [dep, { condition }] of Object.entries(dependsOn)) {
      const target = services[dep];
      if (!target) report.problems.push(`${where}: depends on ${dep}, which is not a service`);
      else if (condition === 'service_healthy' && !target.healthcheck) report.problems.push(`${where}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      else if (condition === 'service_completed_successfully' && target.restart !== 'no') report.problems.push(`${where}: waits for ${dep} to complete, but ${dep} restarts (restart: "no" expected for one-shot setup)`);
    }
    for (const volume of service.volumes ?? []) {
      const host = volume.split(':')[0]!;
      if (host.startsWith('.') && !existsSync(path.join(root, host))) report.problems.push(`${where}: mounts ${host}, which does not exist`);
    }
    if (!ours(service)) continue;
    const command = Array.isArray(service.command) ? service.command : service.command?.split(/\s+/);
    const entry = checkEntry(where, command?.[0], ignored, report.problems);
    const envList = Array.isArray(service.environment) ? Object.fromEntries(service.environment.map((e) => e.split('=') as [string, string])) : (service.environment ?? {});
    const env = { ...image.env, ...Object.fromEntries(Object.entries(envList).map(([k, v]) => [k, interpolate(String(v ?? ''))])) };
    const parsed = checkEnvironment(where, env, report.problems);
    const oneShot = service.restart === 'no';
    if (parsed.success && entry && checkWholeConfig(where, env, report.problems)) report.runs.push({ where, entry, command: [...image.entrypoint, ...(command ?? image.cmd)], env, oneShot });
    if (!oneShot && !service.healthcheck) report.problems.push(`${where}: a long-running service without a healthcheck`);
    const test = Array.isArray(service.healthcheck?.test) ? service.healthcheck.test.join(' ') : (service.healthcheck?.test ?? '');
    for (const m of test.matchAll(/http:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[\w/-]*)/g)) {
      if (entry && parsed.success) probeOf(where, entry, parsed.data, Number(m[1]), m[2]!, report.problems, report.probes);
    }
  }
}

// ---------------------------------------------------------------------------------------------

type Tools = { KUSTOMIZE_BIN: string; KUBECONFORM_BIN: string; K8S_SCHEMA_DIR: string };

function deployTools(): Tools {
  const out = execFileSync(path.join(REPO, 'scripts/stack'), ['deploy-tools'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 1_800_000 });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=') as [string, string])) as Tools;
}

export function renderOverlay(root: string, overlay: string, tools: Tools): Doc[] {
  const out = execFileSync(tools.KUSTOMIZE_BIN, ['build', path.join(root, 'k8s', 'overlays', overlay)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out).map((d) => d.toJS() as Doc).filter((d) => d && d.kind);
}

/** The kubernetes-validate schemas refer to one shared definitions file; kubeconform wants one file a kind. */
function standaloneSchemas(docs: Doc[], schemaDir: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'payorch-k8s-schemas-'));
  const definitions = (JSON.parse(readFileSync(path.join(schemaDir, '_definitions.json'), 'utf8')) as { $defs: Record<string, unknown> }).$defs;
  const REF = '/api/_definitions.json#/$defs/';
  for (const doc of docs) {
    const [group, version] = doc.apiVersion!.includes('/') ? doc.apiVersion!.split('/') : ['', doc.apiVersion!];
    const name = `${doc.kind!.toLowerCase()}${group ? `-${group.split('.')[0]}` : ''}-${version}.json`;
    const source = path.join(schemaDir, name);
    if (!existsSync(source) || existsSync(path.join(dir, name))) continue;
    const text = readFileSync(source, 'utf8');
    const needed = new Set<string>();
    // Kind files refer to "/api/_definitions.json#/$defs/X"; definitions refer to each other as "#/$defs/X".
    const refs = /"(?:\/api\/_definitions\.json)?#\/\$defs\/([^"]+)"/g;
    const queue = [...text.matchAll(refs)].map((m) => m[1]!);
    while (queue.length > 0) {
      const next = queue.pop()!;
      if (needed.has(next)) continue;
      needed.add(next);
      for (const m of JSON.stringify(definitions[next]).matchAll(refs)) queue.push(m[1]!);
    }
    const { $id: _id, ...schema } = JSON.parse(text.split(REF).join('#/$defs/')) as Record<string, unknown>;
    const defs = JSON.parse(JSON.stringify(Object.fromEntries([...needed].map((k) => [k, definitions[k]]))).split(REF).join('#/$defs/')) as Record<string, unknown>;
    writeFileSync(path.join(dir, name), JSON.stringify({ ...schema, $schema: 'https://json-schema.org/draft/2020-12/schema', $defs: defs }));
  }
  return dir;
}

function kubeconform(docs: Doc[], tools: Tools, overlay: string, problems: string[]): void {
  const schemas = standaloneSchemas(docs, tools.K8S_SCHEMA_DIR);
  try {
    const input = docs.map((d) => JSON.stringify(d)).join('\n---\n');
    const result = spawnSync(tools.KUBECONFORM_BIN, ['-strict', '-summary', '-output', 'json', '-schema-location', `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, '-'], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const out = JSON.parse(result.stdout || '{}') as { resources?: Array<{ kind: string; name: string; status: string; msg: string }>; summary?: { valid: number } };
    for (const r of out.resources ?? []) if (r.status !== 'statusValid') problems.push(`k8s/overlays/${overlay}: ${r.kind} ${r.name}: ${r.status.replace(/^status/, '').toLowerCase()}: ${r.msg}`);
    if (result.status !== 0 && (out.resources ?? []).every((r) => r.status === 'statusValid')) problems.push(`k8s/overlays/${overlay}: kubeconform failed: ${result.stderr}`);
    if ((out.summary?.valid ?? 0) !== docs.length && (out.resources ?? []).length === 0) problems.push(`k8s/overlays/${overlay}: kubeconform validated ${out.summary?.valid ?? 0} of ${docs.length} resources`);
  } finally {
    rmSync(schemas, { recursive: true, force: true });
  }
}

async function validateStrimzi(docs: Doc[], overlay: string, problems: string[]): Promise<void> {
  // ES modules, loaded from this CommonJS file at run time.
  const load = (kind: string) => import(`@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1beta2/${kind}`) as Promise<Record<string, new (data: unknown) => { validate(): void }>>;
  for (const doc of docs) {
    try {
      const Model = (await load(doc.kind!))[doc.kind!];
      if (!Model) throw new Error(`no schema for ${doc.apiVersion}/${doc.kind}`);
      new Model(doc).validate();
    } catch (err) {
      problems.push(`k8s/overlays/${overlay}: ${doc.kind} ${doc.metadata?.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

export async function validateKubernetes(root: string, report: Report): Promise<void> {
  const tools = deployTools();
  const ignored = dockerIgnored(root);
  const image = dockerImage(root);
  for (const overlay of ['dev', 'prod']) {
    let docs: Doc[];
    try {
      docs = renderOverlay(root, overlay, tools);
    } catch (err) {
      report.problems.push(`k8s/overlays/${overlay}: kustomize build failed: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    report.checked.push(`k8s/overlays/${overlay} (${docs.length} resources)`);
    const strimzi = docs.filter((d) => d.apiVersion?.startsWith('kafka.strimzi.io/'));
    // PrometheusRule (Prometheus Operator): no schema here; it must carry deploy/prometheus/alerts.yml's groups.
    const promRules = docs.filter((d) => d.apiVersion?.startsWith('monitoring.coreos.com/'));
    const alertGroups = (parse(readFileSync(path.join(root, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: unknown }).groups;
    for (const rule of promRules) {
      if (rule.kind !== 'PrometheusRule' || !isDeepStrictEqual(rule.spec?.groups, alertGroups)) report.problems.push(`k8s/overlays/${overlay}: ${rule.kind} ${rule.metadata?.name}: spec.groups differ from deploy/prometheus/alerts.yml (run scripts/alert-rules-k8s.ts)`);
    }
    kubeconform(docs.filter((d) => !strimzi.includes(d) && !promRules.includes(d)), tools, overlay, report.problems);
    await validateStrimzi(strimzi, overlay, report.problems);
    if (docs.some((d) => d.kind === 'Secret')) report.problems.push(`k8s/overlays/${overlay}: contains a Secret; secret values are never committed`);

    const configMaps = new Map(docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata!.name!, d.data ?? {}]));
    for (const doc of docs.filter((d) => d.kind === 'Deployment' || d.kind === 'Job')) {
      const podSpec = ((doc.spec?.template as { spec?: Record<string, unknown> } | undefined)?.spec ?? {}) as { containers?: Container[]; terminationGracePeriodSeconds?: number };
      for (const container of podSpec.containers ?? []) {
        if (!container.image?.split(':')[0]!.endsWith('payorch')) continue;
        const where = `k8s/overlays/${overlay} ${doc.kind} ${doc.metadata?.name}`;
        const entry = checkEntry(where, container.args?.[0], ignored, report.problems);
        const env: Record<string, string> = { ...image.env };
        for (const from of container.envFrom ?? []) {
          if (from.configMapRef) {
            const data = configMaps.get(from.configMapRef.name);
            if (!data) report.problems.push(`${where}: envFrom ConfigMap ${from.configMapRef.name}, which the overlay does not define`);
            Object.assign(env, data ?? {});
          }
        }
        for (const e of container.env ?? []) {
          if (e.value !== undefined) env[e.name] = e.value;
          else if (!CONFIG_KEYS.has(e.name)) report.problems.push(`${where}: environment variable ${e.name} is unknown to config/config.ts`);
          else {
            const key = (e.valueFrom as { secretKeyRef?: { key: string } } | undefined)?.secretKeyRef?.key;
            const placeholder = key === undefined ? undefined : SECRET_PLACEHOLDERS[key];
            if (placeholder === undefined) report.problems.push(`${where}: ${e.name} comes from ${key === undefined ? 'a source' : `secret key ${key}`} the validator has no placeholder for (SECRET_PLACEHOLDERS)`);
            else env[e.name] = placeholder;
          }
        }
        const parsed = checkEnvironment(where, env, report.problems);
        if (!parsed.success || !entry) continue;
        if (checkWholeConfig(where, env, report.problems)) report.runs.push({ where, entry, command: [...image.entrypoint, ...(container.args ?? image.cmd)], env, oneShot: doc.kind === 'Job' });
        const ports = new Map((container.ports ?? []).map((p) => [p.name, p.containerPort]));
        for (const [kind, probe] of [['readinessProbe', container.readinessProbe], ['livenessProbe', container.livenessProbe], ['startupProbe', container.startupProbe]] as const) {
          if (!probe?.httpGet) {
            if (doc.kind === 'Deployment' && kind !== 'startupProbe') report.problems.push(`${where}: no ${kind}`);
            continue;
          }
          const port = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : ports.get(probe.httpGet.port);
          if (port === undefined) report.problems.push(`${where}: ${kind} uses port ${probe.httpGet.port}, which the container does not declare`);
          else probeOf(`${where} ${kind}`, entry, parsed.data, port, probe.httpGet.path, report.problems, report.probes);
        }
        if (entry === 'temporal/worker.main.ts') {
          const graceS = podSpec.terminationGracePeriodSeconds ?? 30;
          if (graceS * 1_000 <= parsed.data.WORKER_SHUTDOWN_GRACE_MS + 5_000) report.problems.push(`${where}: terminationGracePeriodSeconds ${graceS} is not longer than WORKER_SHUTDOWN_GRACE_MS ${parsed.data.WORKER_SHUTDOWN_GRACE_MS} ms plus 5 s to close connections`);
        }
        if (entry === 'aggregator/main.ts' || entry === 'temporal/worker.main.ts') {
          const topics = docs.filter((d) => d.kind === 'KafkaTopic').map((d) => d.spec as { topicName?: string; partitions?: number });
          for (const expected of projectTopics(parsed.data.LEDGER_TOPIC)) {
            const topic = topics.find((t) => t.topicName === expected.topic);
            if (!topic) report.problems.push(`${where}: uses Kafka topic ${expected.topic}, which has no KafkaTopic`);
            else if (topic.partitions !== expected.numPartitions) report.problems.push(`k8s/overlays/${overlay}: KafkaTopic ${expected.topic} has ${topic.partitions} partitions, kafka/topics.ts says ${expected.numPartitions}`);
          }
        }
      }
    }
  }
  const valuesFile = path.join(root, 'k8s', 'temporal', 'values.yaml');
  const values = parse(readFileSync(valuesFile, 'utf8')) as { server?: { config?: { numHistoryShards?: number; persistence?: { default?: { sql?: { driver?: string } } } } } };
  report.checked.push('k8s/temporal/values.yaml');
  const shards = values.server?.config?.numHistoryShards;
  if (!shards || (shards & (shards - 1)) !== 0) report.problems.push(`k8s/temporal/values.yaml: server.config.numHistoryShards must be set, a power of two (it can never change later); got ${shards}`);
  if (values.server?.config?.persistence?.default?.sql?.driver !== 'postgres12') report.problems.push('k8s/temporal/values.yaml: server.config.persistence.default.sql.driver must be postgres12');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { root: { type: 'string', default: REPO }, json: { type: 'boolean', default: false }, boot: { type: 'boolean', default: false }, only: { type: 'string' }, 'no-build': { type: 'boolean', default: false } } });
  const root = path.resolve(values.root);
  const report: Report = { problems: [], probes: [], checked: [], runs: [], boots: [] };
  validateCompose(root, report);
  await validateKubernetes(root, report);
  if (values.boot) {
    // The image's filesystem, built as the Dockerfile builds it: npm run build, then dist/ next to
    // production-only dependencies (scripts/deploy-boot.ts). --no-build reuses the last one.
    const imageRoot = prepareImageRoot(REPO, { build: !values['no-build'], log: values.json ? () => undefined : (line) => console.log(line) });
    report.image = { root: imageRoot, devDependenciesPresent: devDependenciesIn(imageRoot) };
    const only = values.only === undefined ? undefined : new RegExp(values.only);
    await bootAll(report, { repo: REPO, root: imageRoot, image: dockerImage(root), probePortVariable: PROBE_PORT_VARIABLE, ...(only ? { only } : {}), log: values.json ? () => undefined : (line) => console.log(line) });
  }
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`validate-deploy: checked ${report.checked.length} services and manifests, ${report.probes.length} probes, ${report.runs.length} environments through parseConfig, ${report.boots.length} booted`);
    for (const p of report.problems) console.log(`  problem: ${p}`);
    console.log(report.problems.length === 0 ? 'validate-deploy: ok' : `validate-deploy: ${report.problems.length} problems`);
  }
  if (report.problems.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`validate-deploy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  });
}
