/** A minimal workflow used only by the smoke test: one activity round trip. */
import { proxyActivities } from '@temporalio/workflow';

type SmokeActivities = { echo(text: string): Promise<string> };

const { echo } = proxyActivities<SmokeActivities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3 } });

export async function smokeWorkflow(text: string): Promise<string> {
  return `workflow saw: ${await echo(text)}`;
}
