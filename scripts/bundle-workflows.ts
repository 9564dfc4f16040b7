/**
 * Builds the workflow bundles into a directory (the Dockerfile runs it; the worker reads them when
 * WORKFLOW_BUNDLE_DIR is set).
 *
 *   node --import tsx scripts/bundle-workflows.ts dist/workflow-bundles
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { tracingInterceptorModules, workflowBundlePath, workflowsEntry } from '../temporal/workflow-bundles';

async function main(): Promise<void> {
  const dir = path.resolve(process.argv[2] ?? 'dist/workflow-bundles');
  mkdirSync(dir, { recursive: true });
  for (const traced of [false, true]) {
    const { code } = await bundleWorkflowCode({ workflowsPath: workflowsEntry(), ...(traced ? { workflowInterceptorModules: tracingInterceptorModules() } : {}) });
    writeFileSync(workflowBundlePath(dir, traced), code);
    console.log(`bundle-workflows: ${path.relative(process.cwd(), workflowBundlePath(dir, traced))} (${Math.round(code.length / 1024)} KiB)`);
  }
}

main().catch((err: unknown) => {
  console.error(`bundle-workflows: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
