/**
 * The Temporal Schedules this deployment runs, as one list, and `ensureSchedules`, which the
 * worker calls at start to create each one or bring an existing one up to date with the current
 * configuration. Creating is idempotent (an existing Schedule is updated, never duplicated), so
 * every worker replica may call it; an operator's pause survives an update.
 *
 * A Schedule id is `{name}@{taskQueue}`: several deployments (a test run, a developer's stack) may
 * share one Temporal namespace, and each one's Schedules start workflows on its own task queue.
 *
 * To add a Schedule, add a definition to `scheduleDefinitions`.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction, type ScheduleSpec } from '@temporalio/client';
import type { Duration, Workflow } from '@temporalio/common';
import type { Config } from '../config/config';
import type { IdempotencyKeysPurgeInput, idempotencyKeysPurgeWorkflow } from '../workflows/idempotency-keys-purge.workflow';
import type { ledgerVerificationWorkflow } from '../workflows/ledger-verification.workflow';
import type { SettlementInput, settlementWorkflow } from '../workflows/settlement.workflow';

export type ScheduleDefinition = {
  /** Stable name; the Schedule id and the started workflows' ids derive from it. */
  name: string;
  spec: ScheduleSpec;
  /** The workflow each action starts (on the configuration's task queue) and its arguments. */
  action: Pick<ScheduleOptionsStartWorkflowAction<Workflow>, 'workflowType' | 'args' | 'workflowRunTimeout'>;
  overlap: ScheduleOverlapPolicy;
  /** Missed actions (Temporal was down) are still taken if no later than this. */
  catchupWindow: Duration;
};

export const scheduleId = (name: string, taskQueue: string): string => `${name}@${taskQueue}`;

export const IDEMPOTENCY_KEYS_PURGE = 'idempotency-keys-purge';
export const LEDGER_VERIFICATION = 'ledger-verification';
export const SETTLEMENT = 'settlement';

/** Every Schedule of the deployment, from its configuration. */
export function scheduleDefinitions(config: Config): ScheduleDefinition[] {
  const purge: IdempotencyKeysPurgeInput = {
    retentionS: config.IDEMPOTENCY_KEY_RETENTION_S,
    batchSize: config.IDEMPOTENCY_PURGE_BATCH_SIZE,
    batchesMax: config.IDEMPOTENCY_PURGE_BATCHES_MAX,
  };
  return [
    {
      name: IDEMPOTENCY_KEYS_PURGE,
      spec: { intervals: [{ every: `${config.IDEMPOTENCY_PURGE_INTERVAL_S} seconds` }] },
      action: { workflowType: 'idempotencyKeysPurgeWorkflow' satisfies (typeof idempotencyKeysPurgeWorkflow)['name'], args: [purge], workflowRunTimeout: '30 minutes' },
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '10 minutes',
    },
    {
      // Checks every ledger invariant and records the result (payorch_ledger_invariant_violations).
      // SKIP: a verification still running when the next is due makes the next one redundant.
      name: LEDGER_VERIFICATION,
      spec: { intervals: [{ every: `${config.LEDGER_VERIFY_INTERVAL_S} seconds` }] },
      action: { workflowType: 'ledgerVerificationWorkflow' satisfies (typeof ledgerVerificationWorkflow)['name'], args: [], workflowRunTimeout: '30 minutes' },
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '10 minutes',
    },
    {
      // Imports the PSP's settlement reports (idempotent) and records mismatches. SKIP: a run still
      // going when the next is due would import the same days; the next one catches up anyway.
      name: SETTLEMENT,
      spec: { intervals: [{ every: `${config.SETTLEMENT_INTERVAL_S} seconds` }] },
      action: { workflowType: 'settlementWorkflow' satisfies (typeof settlementWorkflow)['name'], args: [{ lookbackDays: config.SETTLEMENT_LOOKBACK_DAYS, unsettledAfterS: config.RECON_UNSETTLED_AFTER_S } satisfies SettlementInput], workflowRunTimeout: '1 hour' },
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '1 day',
    },
  ];
}

/**
 * Creates every Schedule of `scheduleDefinitions(config)` that does not exist and updates those
 * that do (spec, action, policies; the paused state is kept). Returns the Schedule ids.
 */
export async function ensureSchedules(client: Client, config: Config): Promise<string[]> {
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  const ids: string[] = [];
  for (const definition of scheduleDefinitions(config)) {
    const id = scheduleId(definition.name, taskQueue);
    const action: ScheduleOptionsStartWorkflowAction<Workflow> = { type: 'startWorkflow', ...definition.action, taskQueue, workflowId: id };
    const policies = { overlap: definition.overlap, catchupWindow: definition.catchupWindow };
    try {
      await client.schedule.create({ scheduleId: id, spec: definition.spec, action, policies });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(id).update((previous) => ({ ...previous, spec: definition.spec, action, policies: { ...previous.policies, ...policies } }));
    }
    ids.push(id);
  }
  return ids;
}

/** Deletes the deployment's Schedules (a test run's, at its end); a missing one is not an error. */
export async function deleteSchedules(client: Client, config: Config): Promise<void> {
  for (const definition of scheduleDefinitions(config)) {
    await client.schedule
      .getHandle(scheduleId(definition.name, config.TEMPORAL_TASK_QUEUE))
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof Error && err.name === 'ScheduleNotFoundError')) throw err;
      });
  }
}
