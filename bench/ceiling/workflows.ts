/**
 * The bare-Temporal ceiling (issue 8): workflows of the same shape as a PaymentOrder, with no
 * business logic: start, one no-op activity, one signal to a long-lived per-key workflow (the
 * seller ledger's place). The benchmark runs them on the same server and machine as the real
 * system, with the same worker tuning, and reports our throughput as a ratio of theirs.
 */
import { condition, continueAsNew, defineSignal, getExternalWorkflowHandle, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CeilingActivities } from './activities';

export const ceilingAddSignal = defineSignal<[number]>('ceilingAdd');

const { ceilingNoop } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });

export async function ceilingOrder(keyWorkflowId: string): Promise<void> {
  await ceilingNoop();
  await getExternalWorkflowHandle(keyWorkflowId).signal(ceilingAddSignal, 1);
}

/** Counts the signals it receives; continues as new before its history grows large. */
export async function ceilingKey(carried = 0): Promise<void> {
  let received = carried;
  setHandler(ceilingAddSignal, (n) => {
    received += n;
  });
  await condition(() => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 4_000);
  await continueAsNew<typeof ceilingKey>(received);
}
