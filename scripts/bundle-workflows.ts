/**
 * Builds the workflow bundles into a directory (`npm run build` runs it; the worker reads them when
 * WORKFLOW_BUNDLE_DIR is set), with a manifest of the Temporal SDK versions they were built with.
 * Fails when the SDK the bundle compiles in differs from the worker's (one dependency install must
 * serve both; the worker checks the manifest again before running a bundle).
 *
 *   node dist/scripts/bundle-workflows.js dist/workflow-bundles      (or node --import tsx scripts/bundle-workflows.ts DIR)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { BUNDLE_MANIFEST, sdkMismatch, sdkVersions, tracingInterceptorModules, workerSdkVersions, workflowBundlePath, workflowsEntry } from '../temporal/workflow-bundles';

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? 'dist/workflow-bundles');
  mkdirSync(dir, { recursive: true });
  // What webpack compiles in is resolved from the workflows' directory; the worker's from its own.
  const bundleSdk = sdkVersions(path.dirname(workflowsEntry()));
  const problem = sdkMismatch(bundleSdk, workerSdkVersions());
  if (problem) throw new Error(problem);
  for (const traced of [false, true]) {
    const { code } = await bundleWorkflowCode({ workflowsPath: workflowsEntry(), ...(traced ? { workflowInterceptorModules: tracingInterceptorModules() } : {}) });
    writeFileSync(workflowBundlePath(dir, traced), code);
    console.log(`bundle-workflows: ${path.relative(process.cwd(), workflowBundlePath(dir, traced))} (${Math.round(code.length / 1024)} KiB)`);
  }
  writeFileSync(path.join(dir, BUNDLE_MANIFEST), `${JSON.stringify({ sdk: bundleSdk }, null, 2)}\n`);
  console.log(`bundle-workflows: Temporal SDK ${Object.entries(bundleSdk).map(([n, v]) => `${n}@${v}`).join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(`bundle-workflows: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
