/**
 * Everything about one payment, PaymentOrder or refund, in one screen:
 *
 *   npm run -s inspect -- <paymentId | paymentOrderId | refundId> [--json]
 *
 * - the database rows (payment, its orders, their refunds), the authorization's expiry;
 * - each workflow's execution status, its search attributes decoded, its live state (query, when a
 *   worker answers within 3 s), pending activities (attempt, last failure, next retry) and pending
 *   timers (from the history: when they fire), and whether any worker polls the task queue;
 * - the PSP's records, asked by idempotency key (capture lookup, refund lookup) and by reference
 *   (the simulator's capture, void and refund logs);
 * - the ledger: facts waiting to be journaled, journal entries with their postings and batch
 *   (sequence, published or not), and the net effect of those postings on each account.
 *
 * A payment id shows every order and refund of the payment; an order id shows that order (and
 * its refunds); a refund id shows that refund and its order. Exit 1 when the id is unknown.
 */
import { parseArgs } from 'node:util';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { type TypedSearchAttributes } from '@temporalio/common';
import { optionalTsToDate, tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { type Pool } from 'pg';
import { type Config, loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { connectTemporalClient } from '../temporal/client';
import { ALL_SEARCH_ATTRIBUTES, paymentOrderStateQuery, paymentOrderWorkflowId, refundStateQuery, refundWorkflowId } from '../workflows/contracts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const QUERY_TIMEOUT_MS = 3_000;
const PSP_TIMEOUT_MS = 3_000;

type Row = Record<string, unknown>;

export type PendingActivity = { activityType: string; state: string; attempt: number; maximumAttempts: number; lastFailure: string | null; lastStartedTime: string | null; nextAttemptAt: string | null; expirationTime: string | null };
export type PendingTimer = { timerId: string; startedAt: string; firesAt: string };
export type WorkflowReport = {
  workflowId: string;
  found: boolean;
  runId?: string;
  type?: string;
  executionStatus?: string;
  startTime?: string;
  closeTime?: string | null;
  historyLength?: number;
  searchAttributes?: Record<string, unknown>;
  state?: unknown;
  stateError?: string;
  pendingActivities?: PendingActivity[];
  pendingTimers?: PendingTimer[];
  /** A workflow task waiting for a worker (scheduled, not started): no worker is picking it up. */
  pendingWorkflowTask?: { state: string; scheduledTime: string | null; attempt: number } | null;
};
export type LedgerReport = {
  pendingFacts: Row[];
  entries: Array<Row & { postings: Row[] }>;
  /** Net effect per account and currency of the postings above: credits minus debits, minor units. */
  effects: Array<{ accountCode: string; currency: string; netMinor: string }>;
};
export type InspectReport = {
  subject: { kind: 'payment' | 'paymentOrder' | 'refund'; id: string };
  payment: Row & { authExpiresInS: number | null };
  orders: Array<{ order: Row; workflow: WorkflowReport; psp: Record<string, unknown>; ledger: LedgerReport }>;
  refunds: Array<{ refund: Row; workflow: WorkflowReport; psp: Record<string, unknown>; ledger: LedgerReport }>;
  taskQueue: { name: string; workflowPollers: number; activityPollers: number; lastAccess: string | null; error?: string };
};

const iso = (d: Date | undefined | null): string | null => (d ? d.toISOString() : null);

/** Search attributes by name, decoded with the keys the workflows use (typed, not raw payloads). */
function decodeSearchAttributes(sa: TypedSearchAttributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    const value: unknown = sa.get(key);
    if (value !== undefined) out[key.name] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

/** Timers started in the history and neither fired nor cancelled, with when they fire. */
export function pendingTimersOf(events: temporal.api.history.v1.IHistoryEvent[]): PendingTimer[] {
  const open = new Map<string, PendingTimer>();
  for (const e of events) {
    if (e.timerStartedEventAttributes) {
      const started = tsToMs(e.eventTime);
      const timeout = e.timerStartedEventAttributes.startToFireTimeout;
      const fireMs = started + (timeout ? tsToMs(timeout) : 0);
      open.set(e.timerStartedEventAttributes.timerId ?? '', { timerId: e.timerStartedEventAttributes.timerId ?? '', startedAt: new Date(started).toISOString(), firesAt: new Date(fireMs).toISOString() });
    } else if (e.timerFiredEventAttributes) {
      open.delete(e.timerFiredEventAttributes.timerId ?? '');
    } else if (e.timerCanceledEventAttributes) {
      open.delete(e.timerCanceledEventAttributes.timerId ?? '');
    }
  }
  return [...open.values()];
}

async function describeWorkflow(client: Client, workflowId: string, query: typeof paymentOrderStateQuery | typeof refundStateQuery): Promise<WorkflowReport> {
  const handle = client.workflow.getHandle(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { workflowId, found: false };
    throw err;
  }
  const raw = description.raw;
  const pendingActivities: PendingActivity[] = (raw.pendingActivities ?? []).map((a) => ({
    activityType: a.activityType?.name ?? '?',
    state: temporal.api.enums.v1.PendingActivityState[a.state ?? 0] ?? String(a.state),
    attempt: a.attempt ?? 0,
    maximumAttempts: a.maximumAttempts ?? 0,
    lastFailure: a.lastFailure?.message ?? null,
    lastStartedTime: iso(optionalTsToDate(a.lastStartedTime)),
    nextAttemptAt: iso(optionalTsToDate(a.nextAttemptScheduleTime)),
    expirationTime: iso(optionalTsToDate(a.expirationTime)),
  }));
  let pendingTimers: PendingTimer[] = [];
  if (description.status.name === 'RUNNING') {
    const history = await handle.fetchHistory();
    pendingTimers = pendingTimersOf(history.events ?? []);
  }
  const report: WorkflowReport = {
    workflowId,
    found: true,
    runId: description.runId,
    type: description.type,
    executionStatus: description.status.name,
    startTime: description.startTime.toISOString(),
    closeTime: iso(description.closeTime),
    historyLength: description.historyLength,
    searchAttributes: decodeSearchAttributes(description.typedSearchAttributes),
    pendingActivities,
    pendingTimers,
    pendingWorkflowTask: raw.pendingWorkflowTask
      ? {
          state: temporal.api.enums.v1.PendingWorkflowTaskState[raw.pendingWorkflowTask.state ?? 0] ?? String(raw.pendingWorkflowTask.state),
          scheduledTime: iso(optionalTsToDate(raw.pendingWorkflowTask.scheduledTime)),
          attempt: raw.pendingWorkflowTask.attempt ?? 0,
        }
      : null,
  };
  try {
    // A query needs a worker: without one it would wait; the deadline turns that into an answer.
    report.state = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query<unknown>(query.name));
  } catch (err) {
    report.stateError = `no answer to query ${query.name} within ${QUERY_TIMEOUT_MS / 1000}s (is a worker polling the task queue?): ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
  }
  return report;
}

async function pspGet(baseUrl: string, path: string): Promise<unknown> {
  try {
    const res = await fetch(new URL(path, baseUrl), { signal: AbortSignal.timeout(PSP_TIMEOUT_MS) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { httpStatus: res.status, body };
  } catch (err) {
    return { error: err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${PSP_TIMEOUT_MS / 1000}s` : String(err) };
  }
}

async function ledgerOf(pool: Pool, where: { paymentOrderId?: string; refundId?: string }): Promise<LedgerReport> {
  const [column, value] = where.refundId ? ['refund_id', where.refundId] : ['payment_order_id', where.paymentOrderId!];
  // An order's own entries are those without a refund (REFUND entries are shown with their refund).
  const ownOnly = where.refundId ? '' : ' and refund_id is null';
  const facts = await pool.query<Row>(
    `select id, entry_type, stream_id, amount_minor::text, currency, created_at, quarantined_at, quarantine_reason from ledger_facts where ${column} = $1${ownOnly} and journaled_at is null order by position`,
    [value],
  );
  const entries = await pool.query<Row>(
    `select je.id, je.entry_type, je.seller_id, je.batch_id, b.seq as batch_seq, b.published_at as batch_published_at, je.metadata, je.created_at
       from journal_entries je left join ledger_batches b on b.id = je.batch_id
      where je.${column} = $1${ownOnly.replace('refund_id', 'je.refund_id')} order by je.created_at, je.id`,
    [value],
  );
  const ids = entries.rows.map((e: Row) => e.id as string);
  const postings = ids.length === 0 ? { rows: [] as Row[] } : await pool.query<Row>(`select journal_entry_id, account_code, direction, amount_minor::text, currency from postings where journal_entry_id = any($1::text[]) order by id`, [ids]);
  const effects = new Map<string, bigint>();
  for (const p of postings.rows) {
    const key = `${String(p.account_code)}\u0000${String(p.currency)}`;
    const amount = BigInt(p.amount_minor as string);
    effects.set(key, (effects.get(key) ?? 0n) + (p.direction === 'CREDIT' ? amount : -amount));
  }
  return {
    pendingFacts: facts.rows,
    entries: entries.rows.map((e: Row) => ({ ...e, postings: postings.rows.filter((p) => p.journal_entry_id === e.id).map(({ journal_entry_id: _, ...rest }) => rest) })),
    effects: [...effects].filter(([, net]) => net !== 0n).map(([key, net]) => {
      const [accountCode, currency] = key.split('\u0000') as [string, string];
      return { accountCode, currency, netMinor: net.toString() };
    }),
  };
}

async function taskQueueOf(client: Client, name: string): Promise<InspectReport['taskQueue']> {
  const describe = (taskQueueType: temporal.api.enums.v1.TaskQueueType) =>
    client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType });
  try {
    const [wf, act] = await Promise.all([describe(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), describe(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)]);
    const last = [...(wf.pollers ?? []), ...(act.pollers ?? [])].map((p) => optionalTsToDate(p.lastAccessTime)?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    return { name, workflowPollers: wf.pollers?.length ?? 0, activityPollers: act.pollers?.length ?? 0, lastAccess: last ? new Date(last).toISOString() : null };
  } catch (err) {
    return { name, workflowPollers: 0, activityPollers: 0, lastAccess: null, error: err instanceof Error ? err.message : String(err) };
  }
}

export async function inspect(id: string, deps: { pool: Pool; client: Client; config: Config }): Promise<InspectReport | undefined> {
  const { pool, client, config } = deps;
  const lower = id.toLowerCase();
  const q = async (text: string, values: unknown[]) => (await pool.query<Row>(text, values)).rows;
  let subject: InspectReport['subject'];
  let paymentId: string;
  let orderFilter: string | undefined;
  let refundFilter: string | undefined;
  const [asPayment] = await q('select id from payments where id = $1', [lower]);
  const [asOrder] = asPayment ? [] : await q('select id, payment_id from payment_orders where id = $1', [lower]);
  const [asRefund] = asPayment || asOrder ? [] : await q('select id, payment_id, payment_order_id from refunds where id = $1', [lower]);
  if (asPayment) {
    subject = { kind: 'payment', id: lower };
    paymentId = lower;
  } else if (asOrder) {
    subject = { kind: 'paymentOrder', id: lower };
    paymentId = asOrder.payment_id as string;
    orderFilter = lower;
  } else if (asRefund) {
    subject = { kind: 'refund', id: lower };
    paymentId = asRefund.payment_id as string;
    orderFilter = asRefund.payment_order_id as string;
    refundFilter = lower;
  } else {
    return undefined;
  }
  const [payment] = await q(
    `select id, status, order_id, buyer_id, total_amount_minor::text, currency, psp_authorization_id, auth_expires_at, decline_reason, created_at, updated_at,
            extract(epoch from auth_expires_at - now())::int as auth_expires_in_s from payments where id = $1`,
    [paymentId],
  );
  const { auth_expires_in_s: authExpiresInS, ...paymentRow } = payment!;
  const orders = await q(
    `select id, position, seller_id, amount_minor::text, currency, status, capture_attempts, last_psp_error, psp_capture_id, commission_bps, refund_reserved_minor::text, refunded_minor::text, cancel_requested_at, workflow_started_at, created_at, updated_at
       from payment_orders where payment_id = $1 ${orderFilter ? 'and id = $2' : ''} order by position`,
    orderFilter ? [paymentId, orderFilter] : [paymentId],
  );
  const refunds = await q(
    `select id, payment_order_id, seller_id, amount_minor::text, currency, status, reason, attempts, last_psp_error, psp_refund_id, workflow_started_at, created_at, updated_at
       from refunds where payment_id = $1 ${refundFilter ? 'and id = $2' : orderFilter ? 'and payment_order_id = $2' : ''} order by created_at`,
    refundFilter ? [paymentId, refundFilter] : orderFilter ? [paymentId, orderFilter] : [paymentId],
  );
  const psp = config.PSP_BASE_URL;
  const report: InspectReport = {
    subject,
    payment: { ...paymentRow, authExpiresInS: authExpiresInS === null || authExpiresInS === undefined ? null : Number(authExpiresInS) },
    orders: await Promise.all(
      orders.map(async (order) => {
        const orderId = order.id as string;
        const [workflow, captureLookup, captures, voids, ledger] = await Promise.all([
          describeWorkflow(client, paymentOrderWorkflowId(orderId), paymentOrderStateQuery),
          pspGet(psp, `/v1/captures/lookup?idempotencyKey=${encodeURIComponent(`capture:${orderId}`)}`),
          pspGet(psp, `/v1/captures/log?reference=${orderId}`),
          pspGet(psp, `/v1/voids/log?reference=${orderId}`),
          ledgerOf(pool, { paymentOrderId: orderId }),
        ]);
        return { order, workflow, psp: { captureLookup, captureLog: captures, voidLog: voids }, ledger };
      }),
    ),
    refunds: await Promise.all(
      refunds.map(async (refund) => {
        const refundId = refund.id as string;
        const [workflow, refundLookup, refundLog, ledger] = await Promise.all([
          describeWorkflow(client, refundWorkflowId(refundId), refundStateQuery),
          pspGet(psp, `/v1/refunds/lookup?idempotencyKey=${encodeURIComponent(`refund:${refundId}`)}`),
          pspGet(psp, `/v1/refunds/log?reference=${refundId}`),
          ledgerOf(pool, { refundId }),
        ]);
        return { refund, workflow, psp: { refundLookup, refundLog }, ledger };
      }),
    ),
    taskQueue: await taskQueueOf(client, config.TEMPORAL_TASK_QUEUE),
  };
  return report;
}

// ------------------------------------------------------------------------------------------------
// Plain text.

const show = (v: unknown): string => {
  if (v instanceof Date) return v.toISOString();
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
  return JSON.stringify(v);
};
const fields = (row: Row, skip: string[] = []) =>
  Object.entries(row)
    .filter(([k, v]) => !skip.includes(k) && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join('  ');
const inS = (whenIso: string | null | undefined, now: number) => {
  if (!whenIso) return '';
  const s = Math.round((Date.parse(whenIso) - now) / 1000);
  return s >= 0 ? ` (in ${s}s)` : ` (${-s}s ago)`;
};

function workflowLines(w: WorkflowReport, now: number): string[] {
  if (!w.found) return [`  workflow ${w.workflowId}: NOT FOUND (not started yet? the outbox relay starts it; see workflow_started_at)`];
  const out = [`  workflow ${w.workflowId}  ${w.executionStatus}  started ${w.startTime}${w.closeTime ? `  closed ${w.closeTime}` : ''}  history ${w.historyLength} events  run ${w.runId}`];
  out.push(`    search attributes: ${Object.entries(w.searchAttributes ?? {}).map(([k, v]) => `${k}=${show(v)}`).join('  ')}`);
  if (w.state !== undefined) out.push(`    state (query): ${JSON.stringify(w.state)}`);
  if (w.stateError) out.push(`    state (query): ${w.stateError}`);
  for (const a of w.pendingActivities ?? []) {
    out.push(`    pending activity ${a.activityType}: ${a.state}, attempt ${a.attempt}${a.maximumAttempts ? `/${a.maximumAttempts}` : ''}, next retry ${a.nextAttemptAt ?? '-'}${inS(a.nextAttemptAt, now)}, last failure: ${a.lastFailure ?? '-'}`);
  }
  if (w.pendingWorkflowTask) {
    const t = w.pendingWorkflowTask;
    out.push(`    pending workflow task: ${t.state}, attempt ${t.attempt}, scheduled ${t.scheduledTime ?? '-'}${inS(t.scheduledTime, now)}${t.state.endsWith('SCHEDULED') && t.scheduledTime && now - Date.parse(t.scheduledTime) > 10_000 ? '  NO WORKER has picked it up' : ''}`);
  }
  for (const t of w.pendingTimers ?? []) out.push(`    pending timer ${t.timerId}: started ${t.startedAt}, fires ${t.firesAt}${inS(t.firesAt, now)}`);
  if (w.executionStatus === 'RUNNING' && (w.pendingActivities ?? []).length === 0 && (w.pendingTimers ?? []).length === 0 && !w.pendingWorkflowTask) out.push('    nothing pending: waiting for a workflow task (a worker) or a signal');
  return out;
}

function pspLines(psp: Record<string, unknown>): string[] {
  return Object.entries(psp).map(([k, v]) => {
    const r = v as { httpStatus?: number; body?: unknown; error?: string };
    return `    ${k}: ${r.error ? `ERROR ${r.error}` : `${r.httpStatus} ${JSON.stringify(r.body)}`}`;
  });
}

function ledgerLines(l: LedgerReport): string[] {
  const out: string[] = [];
  for (const f of l.pendingFacts) out.push(`    fact waiting to be journaled: ${fields(f)}`);
  for (const e of l.entries) {
    out.push(`    entry ${show(e.id)}  batch seq ${show(e.batch_seq)} ${e.batch_published_at ? 'published' : 'NOT PUBLISHED'}  ${show(e.created_at)}`);
    for (const p of e.postings) out.push(`      ${String(p.direction).padEnd(6)} ${String(p.account_code).padEnd(40)} ${String(p.amount_minor).padStart(12)} ${show(p.currency)}`);
  }
  if (l.entries.length === 0 && l.pendingFacts.length === 0) out.push('    no ledger entries');
  if (l.effects.length > 0) out.push(`    balance effect (credit - debit): ${l.effects.map((e) => `${e.accountCode} ${e.netMinor.startsWith('-') ? '' : '+'}${e.netMinor} ${e.currency}`).join(', ')}`);
  return out;
}

export function formatReport(r: InspectReport, now = Date.now()): string {
  const out: string[] = [];
  const p = r.payment;
  out.push(`${r.subject.kind} ${r.subject.id}`);
  out.push(`payment ${show(p.id)}  ${show(p.status)}  ${show(p.total_amount_minor)} ${show(p.currency)}  order ${show(p.order_id)}  created ${show(p.created_at)}`);
  out.push(`  authorization ${show(p.psp_authorization_id)}  expires ${show(p.auth_expires_at)}${p.authExpiresInS === null ? '' : p.authExpiresInS >= 0 ? ` (in ${p.authExpiresInS}s)` : ` (EXPIRED ${-p.authExpiresInS}s ago)`}${p.decline_reason ? `  declined: ${show(p.decline_reason)}` : ''}`);
  const tq = r.taskQueue;
  out.push(`task queue ${tq.name}: ${tq.workflowPollers} workflow poller(s), ${tq.activityPollers} activity poller(s)${tq.lastAccess ? `, last poll ${tq.lastAccess}${inS(tq.lastAccess, now)}${now - Date.parse(tq.lastAccess) > 75_000 ? '  STALE: no worker has polled for over a minute' : ''}` : ''}${tq.workflowPollers + tq.activityPollers === 0 ? '  NO WORKER: start one (scripts/stack start worker)' : ''}${tq.error ? `  (${tq.error})` : ''}`);
  for (const o of r.orders) {
    out.push('');
    out.push(`order ${show(o.order.id)}  ${show(o.order.status)}  seller ${show(o.order.seller_id)}  ${show(o.order.amount_minor)} ${show(o.order.currency)}`);
    out.push(`  db: ${fields(o.order, ['id', 'status', 'seller_id', 'amount_minor', 'currency'])}`);
    out.push(...workflowLines(o.workflow, now));
    out.push('  psp:', ...pspLines(o.psp));
    out.push('  ledger:', ...ledgerLines(o.ledger));
  }
  for (const f of r.refunds) {
    out.push('');
    out.push(`refund ${show(f.refund.id)}  ${show(f.refund.status)}  order ${show(f.refund.payment_order_id)}  ${show(f.refund.amount_minor)} ${show(f.refund.currency)}`);
    out.push(`  db: ${fields(f.refund, ['id', 'status', 'payment_order_id', 'amount_minor', 'currency'])}`);
    out.push(...workflowLines(f.workflow, now));
    out.push('  psp:', ...pspLines(f.psp));
    out.push('  ledger:', ...ledgerLines(f.ledger));
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  } catch (err) {
    console.error(`inspect: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  const [id, ...rest] = parsed.positionals;
  if (!id || rest.length > 0 || !UUID.test(id)) {
    console.error('usage: npm run -s inspect -- <paymentId | paymentOrderId | refundId> [--json]   (a UUID)');
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const { pool } = createDb({ url: config.DATABASE_URL, poolMax: 4, applicationName: 'inspect' });
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  try {
    const report = await inspect(id, { pool, client, config });
    if (!report) {
      console.error(`inspect: no payment, payment order or refund has the id ${id}`);
      process.exitCode = 1;
      return;
    }
    const text = parsed.values.json ? JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) : formatReport(report);
    await new Promise<void>((resolve) => process.stdout.write(`${text}\n`, () => resolve()));
  } finally {
    await client.connection.close();
    await pool.end();
  }
}

if (require.main === module) {
  // Exit once the report is written: idle HTTP keep-alive sockets to the PSP would hold the
  // process open for seconds after the answer.
  main().then(() => process.exit(process.exitCode ?? 0)).catch((err: unknown) => {
    console.error(`inspect: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
