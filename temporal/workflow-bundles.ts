/**
 * Prebuilt workflow bundles, for container images: the worker then starts without webpack. Two
 * bundles, because OpenTelemetry's workflow interceptors must be compiled in when tracing is on
 * and must be absent when it is off (they would call a sink nobody registered).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const WORKFLOW_BUNDLE_FILES = { plain: 'workflows.js', traced: 'workflows.traced.js' } as const;
/** Written next to the bundles: the SDK versions they were built with. */
export const BUNDLE_MANIFEST = 'manifest.json';

/** The Temporal SDK packages whose versions must agree between a bundle and the worker running it. */
const SDK_PACKAGES = ['@temporalio/workflow', '@temporalio/common', '@temporalio/worker', '@temporalio/core-bridge'] as const;
export type SdkVersions = Record<string, string>;

/** The SDK package versions as resolved from `fromDir` (what webpack or the worker's require() would load). */
export function sdkVersions(fromDir: string): SdkVersions {
  const out: SdkVersions = {};
  for (const name of SDK_PACKAGES) {
    const file = require.resolve(`${name}/package.json`, { paths: [fromDir] });
    out[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return out;
}

/** Every package at one version, and the bundle's the same as the worker's; else what differs. */
export function sdkMismatch(bundle: SdkVersions, worker: SdkVersions): string | undefined {
  const all = { ...bundle, ...worker };
  const versions = new Set([...Object.values(bundle), ...Object.values(worker)]);
  const differing = Object.keys(all).filter((name) => bundle[name] !== undefined && worker[name] !== undefined && bundle[name] !== worker[name]);
  if (versions.size <= 1 && differing.length === 0) return undefined;
  const show = (v: SdkVersions) => Object.entries(v).map(([n, ver]) => `${n}@${ver}`).join(', ');
  return `Temporal SDK versions differ: the workflow bundle was built with ${show(bundle)}; the worker runs ${show(worker)}`;
}

/** The worker's own SDK versions (resolved from this module's directory, as its require() does). */
export const workerSdkVersions = (): SdkVersions => sdkVersions(__dirname);

/**
 * Before a worker runs a prebuilt bundle: the bundle's manifest must name the SDK versions this
 * worker runs (a bundle from another dependency install could replay differently).
 */
export function assertBundleMatchesWorker(dir: string): void {
  const file = path.join(dir, BUNDLE_MANIFEST);
  if (!existsSync(file)) throw new Error(`${file} is missing: rebuild the workflow bundles (npm run build)`);
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { sdk: SdkVersions };
  const problem = sdkMismatch(manifest.sdk, workerSdkVersions());
  if (problem) throw new Error(`${problem}; rebuild the bundles with the worker's dependencies (npm run build)`);
}

export const workflowsEntry = (): string => require.resolve('../workflows');
export const tracingInterceptorModules = (): string[] => [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export function workflowBundlePath(dir: string, traced: boolean): string {
  return path.join(dir, traced ? WORKFLOW_BUNDLE_FILES.traced : WORKFLOW_BUNDLE_FILES.plain);
}
