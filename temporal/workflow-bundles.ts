/**
 * Prebuilt workflow bundles, for container images: the worker then starts without webpack. Two
 * bundles, because OpenTelemetry's workflow interceptors must be compiled in when tracing is on
 * and must be absent when it is off (they would call a sink nobody registered).
 */
import path from 'node:path';

export const WORKFLOW_BUNDLE_FILES = { plain: 'workflows.js', traced: 'workflows.traced.js' } as const;

export const workflowsEntry = (): string => require.resolve('../workflows');
export const tracingInterceptorModules = (): string[] => [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export function workflowBundlePath(dir: string, traced: boolean): string {
  return path.join(dir, traced ? WORKFLOW_BUNDLE_FILES.traced : WORKFLOW_BUNDLE_FILES.plain);
}
