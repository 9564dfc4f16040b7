/**
 * The Temporal Schedules of the system, defined once and created-or-updated idempotently when a
 * worker starts (every worker does it; the second one finds them and brings them up to date, so a
 * changed interval in the configuration takes effect on the next deploy).
 *
 * Overlap policy: SKIP for every schedule here. Each action is a sweep over Postgres that is
 * idempotent and complete on its own; if one is still running when the next is due (a slow
 * database), the next adds nothing but load, and the one after catches up.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction, type ScheduleSpec } from '@temporalio/client';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';

export type ScheduleDefinition = {
  scheduleId: string;
  spec: ScheduleSpec;
  action: ScheduleOptionsStartWorkflowAction<() => Promise<unknown>>;
  note: string;
};

/**
 * Every schedule the worker keeps in place. Ids carry the task queue, so deployments (or test
 * runs) sharing a namespace keep their own schedules.
 */
export function scheduleDefinitions(config: Config): ScheduleDefinition[] {
  const id = (name: string) => `${name}:${config.TEMPORAL_TASK_QUEUE}`;
  return [
    {
      scheduleId: id('ledger-verification'),
      spec: { intervals: [{ every: `${config.LEDGER_VERIFY_INTERVAL_S}s` }] },
      action: { type: 'startWorkflow', workflowType: 'ledgerVerificationWorkflow', taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId: id('ledger-verification'), args: [], workflowExecutionTimeout: '30m' },
      note: 'checks every ledger invariant and records the result (payorch_ledger_invariant_violations)',
    },
  ];
}

export async function ensureSchedules(client: Client, definitions: ScheduleDefinition[], log: Logger): Promise<void> {
  for (const d of definitions) {
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' as const };
    try {
      await client.schedule.create({ scheduleId: d.scheduleId, spec: d.spec, action: d.action, policies, memo: { note: d.note } });
      log.info({ scheduleId: d.scheduleId }, 'schedule created');
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(d.scheduleId).update((previous) => ({ ...previous, spec: d.spec, action: d.action, policies }));
      log.debug({ scheduleId: d.scheduleId }, 'schedule updated');
    }
  }
}
