/**
 * One Temporal Schedule per seller that has had settled money: it starts the seller's
 * `payoutWorkflow` every PAYOUT_INTERVAL_S (default daily). The Schedule is created when the
 * seller first gets a settlement (the settlement import calls `ensurePayoutSchedule`), and every
 * worker start brings all of them up to date with the configuration (`ensureAllPayoutSchedules`).
 *
 * Overlap policy ALLOW_ALL: a run may watch a paid payout for its return for days, and the next
 * period must not wait for it. Overlapping runs cannot overpay: each run reserves under the
 * seller's lock, net of payouts in flight, and a period (the run's workflow id) gets at most one
 * payout per currency. Catch-up window one day: a period missed while Temporal was down is still paid.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction, type ScheduleSpec } from '@temporalio/client';
import type { Duration, Workflow } from '@temporalio/common';
import { eq, sql } from 'drizzle-orm';
import type { Config } from '../config/config';
import type { Database } from '../db/client';
import { payoutAccounts } from '../db/schema';
import { SA_SELLER_ID } from '../workflows/contracts';
import type { PayoutInput, payoutWorkflow } from '../workflows/payout.workflow';
import { scheduleId } from './schedules';

export const payoutScheduleId = (sellerId: string, taskQueue: string): string => scheduleId(`payout:${sellerId}`, taskQueue);

function definition(config: Config, sellerId: string): { spec: ScheduleSpec; action: ScheduleOptionsStartWorkflowAction<Workflow>; policies: { overlap: ScheduleOverlapPolicy; catchupWindow: Duration } } {
  const taskQueue = config.TEMPORAL_TASK_QUEUE;
  const input: PayoutInput = { sellerId, minMinor: String(config.PAYOUT_MIN_MINOR), returnWatchS: config.PAYOUT_RETURN_WATCH_S, returnPollS: config.PAYOUT_RETURN_POLL_S };
  const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
    type: 'startWorkflow',
    workflowType: 'payoutWorkflow' satisfies (typeof payoutWorkflow)['name'],
    args: [input],
    taskQueue,
    workflowId: payoutScheduleId(sellerId, taskQueue),
    workflowRunTimeout: `${config.PAYOUT_RETURN_WATCH_S + 86_400} seconds` as Duration,
    typedSearchAttributes: [{ key: SA_SELLER_ID, value: sellerId }],
  };
  return { spec: { intervals: [{ every: `${config.PAYOUT_INTERVAL_S} seconds` as Duration }] }, action, policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL, catchupWindow: '1 day' } };
}

/** Creates the seller's payout Schedule, or (with `update`) brings an existing one up to date. */
export async function ensurePayoutSchedule(client: Client, config: Config, sellerId: string, options: { db?: Database; update?: boolean } = {}): Promise<void> {
  const id = payoutScheduleId(sellerId, config.TEMPORAL_TASK_QUEUE);
  const { spec, action, policies } = definition(config, sellerId);
  try {
    await client.schedule.create({ scheduleId: id, spec, action, policies });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    if (options.update) await client.schedule.getHandle(id).update((previous) => ({ ...previous, spec, action, policies: { ...previous.policies, ...policies } }));
  }
  if (options.db) await options.db.update(payoutAccounts).set({ scheduleCreatedAt: sql`coalesce(${payoutAccounts.scheduleCreatedAt}, now())` }).where(eq(payoutAccounts.sellerId, sellerId));
}

/** At worker start: every seller with a payout account gets its Schedule, up to date (bounded). */
export async function ensureAllPayoutSchedules(client: Client, config: Config, db: Database, limit = 100_000): Promise<number> {
  const rows = await db.selectDistinct({ sellerId: payoutAccounts.sellerId }).from(payoutAccounts).orderBy(payoutAccounts.sellerId).limit(limit);
  for (const { sellerId } of rows) await ensurePayoutSchedule(client, config, sellerId, { db, update: true });
  return rows.length;
}

export async function deletePayoutSchedule(client: Client, config: Config, sellerId: string): Promise<void> {
  await client.schedule
    .getHandle(payoutScheduleId(sellerId, config.TEMPORAL_TASK_QUEUE))
    .delete()
    .catch((err: unknown) => {
      if (!(err instanceof Error && err.name === 'ScheduleNotFoundError')) throw err;
    });
}
