/**
 * Temporal actions per PaymentOrder, counted from the histories themselves (issue 21): what the
 * server had to persist for each order. Used by bench:e2e after its drain; also a CLI:
 *
 *   node --import tsx bench/temporal-actions.ts <paymentOrderId>...
 *
 * Categories follow what Temporal bills as actions (workflow starts and continue-as-new,
 * signals, activity attempts, local-activity markers, timers, search-attribute upserts, other
 * markers such as patches), plus two server-cost figures that are not actions: workflow tasks
 * completed and history events.
 *
 * The seller ledger's share is attributed by time: every event of every run of the sampled
 * sellers' ledger workflows written inside the load window, divided by the orders those sellers
 * got. With `--fresh-sellers` nothing else writes to those workflows, so the figure is exact.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const { EventType } = temporal.api.enums.v1;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export const ACTION_KINDS = ['starts', 'signals', 'activities', 'localActivities', 'timers', 'searchAttributeUpserts', 'markers', 'continueAsNew'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];
export type ActionCounts = Record<ActionKind, number> & { actions: number; workflowTasks: number; events: number };

const empty = (): ActionCounts => ({ starts: 0, signals: 0, activities: 0, localActivities: 0, timers: 0, searchAttributeUpserts: 0, markers: 0, continueAsNew: 0, actions: 0, workflowTasks: 0, events: 0 });

function eventTimeMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1_000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** Adds one history's events (those inside [fromMs, toMs], if given) to `into`. */
export function countEvents(events: HistoryEvent[], into: ActionCounts, window?: { fromMs: number; toMs: number }): void {
  for (const e of events) {
    if (window) {
      const at = eventTimeMs(e);
      if (at < window.fromMs || at > window.toMs) continue;
    }
    into.events += 1;
    switch (e.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        into.starts += 1;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        into.signals += 1;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        // One per attempt that completed or failed (a retried activity shows its last attempt).
        into.activities += Math.max(e.activityTaskStartedEventAttributes?.attempt ?? 1, 1);
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') into.localActivities += 1;
        else into.markers += 1;
        break;
      case EventType.EVENT_TYPE_TIMER_STARTED:
        into.timers += 1;
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        into.searchAttributeUpserts += 1;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        into.continueAsNew += 1;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        into.workflowTasks += 1;
        break;
      default:
        break;
    }
  }
  into.actions = ACTION_KINDS.reduce((sum, k) => sum + into[k], 0);
}

async function history(client: Client, workflowId: string, runId?: string): Promise<HistoryEvent[]> {
  const h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return h.events ?? [];
}

function divide(c: ActionCounts, n: number): ActionCounts {
  const out = empty();
  for (const k of Object.keys(out) as Array<keyof ActionCounts>) out[k] = n > 0 ? Math.round((c[k] / n) * 100) / 100 : 0;
  return out;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export type ActionsPerOrder = { sampledOrders: number; sampledSellers: number; paymentOrder: ActionCounts; sellerLedger: ActionCounts; total: ActionCounts };

/**
 * Actions per PaymentOrder over a sample of the run's orders (all runs of each PaymentOrder
 * workflow, continue-as-new included) and of their sellers' ledger workflows within the window.
 */
export async function actionsPerOrder(client: Client, orders: Array<{ paymentOrderId: string; sellerId: string }>, window: { fromMs: number; toMs: number }, sample = 200): Promise<ActionsPerOrder> {
  const sampled = orders.slice(0, sample);
  const po = empty();
  await inBatches(sampled, 20, async (o) => {
    // Every run: list them (a retrying capture may have continued as new).
    for await (const run of client.workflow.list({ query: `WorkflowId = 'payment-order:${o.paymentOrderId}'` })) {
      countEvents(await history(client, run.workflowId, run.runId), po);
    }
  });
  // The ledger: the sellers of (up to `sample`) orders, every order those sellers got counted.
  const sellers = [...new Set(orders.map((o) => o.sellerId))].slice(0, sample);
  const sellerSet = new Set(sellers);
  const ordersOfSampledSellers = orders.filter((o) => sellerSet.has(o.sellerId)).length;
  const ledger = empty();
  await inBatches(sellers, 20, async (sellerId) => {
    for await (const run of client.workflow.list({ query: `WorkflowId = 'seller-ledger:${sellerId.replace(/'/g, "\\'")}'` })) {
      const closedBefore = run.closeTime && run.closeTime.getTime() < window.fromMs;
      if (closedBefore || run.startTime.getTime() > window.toMs) continue;
      countEvents(await history(client, run.workflowId, run.runId), ledger, window);
    }
  });
  const poPer = divide(po, sampled.length);
  const ledgerPer = divide(ledger, ordersOfSampledSellers);
  const total = empty();
  for (const k of Object.keys(total) as Array<keyof ActionCounts>) total[k] = Math.round((poPer[k] + ledgerPer[k]) * 100) / 100;
  return { sampledOrders: sampled.length, sampledSellers: sellers.length, paymentOrder: poPer, sellerLedger: ledgerPer, total };
}

export function actionsTable(a: ActionsPerOrder): string {
  const rows = [...ACTION_KINDS, 'actions', 'workflowTasks', 'events'] as const;
  const lines = [`| per PaymentOrder (${a.sampledOrders} orders, ${a.sampledSellers} sellers' ledgers sampled) | PaymentOrder workflow | seller ledger share | total |`, '|---|---:|---:|---:|'];
  for (const k of rows) {
    const label = k === 'actions' ? '**actions**' : k === 'workflowTasks' ? 'workflow tasks (not an action)' : k === 'events' ? 'history events (not an action)' : k;
    lines.push(`| ${label} | ${a.paymentOrder[k]} | ${a.sellerLedger[k]} | ${k === 'actions' ? `**${a.total[k]}**` : a.total[k]} |`);
  }
  return lines.join('\n');
}

async function cli(): Promise<void> {
  const ids = process.argv.slice(2);
  if (ids.length === 0) {
    console.error('usage: node --import tsx bench/temporal-actions.ts <paymentOrderId>...');
    process.exit(2);
  }
  const { loadConfigOrExit } = await import('../config/config');
  const { connectTemporalClient } = await import('../temporal/client');
  const config = loadConfigOrExit();
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  for (const id of ids) {
    const c = empty();
    for await (const run of client.workflow.list({ query: `WorkflowId = 'payment-order:${id}'` })) countEvents(await history(client, run.workflowId, run.runId), c);
    console.log(id, JSON.stringify(c));
  }
  await client.connection.close();
}

if (require.main === module) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
