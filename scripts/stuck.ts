/**
 * What needs an operator's attention, from Temporal's visibility store (no SQL). Every section
 * prints the query it used (paste it into the Web UI's search box), then one line per workflow.
 *
 *   npm run -s stuck                                   the "needs attention" view (below)
 *   npm run -s stuck -- --status CAPTURE_FAILED --since 1h
 *   npm run -s stuck -- --status PENDING_CAPTURE --older-than 5m
 *   npm run -s stuck -- --status REFUND_FAILED --since 1d
 *   options: [--older-than 5m] [--since 1h] [--limit 100] [--json]
 *
 * "Needs attention": PaymentOrders still capturing after --older-than, captures failed within
 * --since, workflows waiting on an unknown PSP outcome (the last PSP error says the PSP did not
 * answer), refunds failed within --since, refunds still running after --older-than, and
 * PaymentOrder or refund workflows that failed, were terminated or timed out within --since.
 *
 * `--status S` lists workflows whose status search attribute is S and that are either still
 * running after --older-than, or closed within --since: a failed capture is a *completed*
 * workflow, so final statuses are found by their close time.
 *
 * Only workflows of this deployment's task queue (TEMPORAL_TASK_QUEUE) are listed.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/config';
import { FINAL_ORDER_STATUSES, PAYMENT_ORDER_STATUSES, REFUND_STATUSES } from '../domain/payment-status';
import { connectTemporalClient } from '../temporal/client';
import {
  SA_CAPTURE_ATTEMPTS,
  SA_LAST_PSP_ERROR_CODE,
  SA_PAYMENT_ID,
  SA_PAYMENT_ORDER_STATUS,
  SA_REFUND_STATUS,
  SA_SELLER_ID,
} from '../workflows/contracts';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d{1,6})([smhd])$/.exec(text);
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

/**
 * PSP error codes that mean "we do not know what the PSP did" (psp/http-psp.adapter.ts, readFailure):
 * the workflow resolves them by a lookup or a retry under the same key, never books them as failures.
 */
export const UNKNOWN_OUTCOME_CODES = ['TIMEOUT', 'CONNECTION_LOST', 'MALFORMED_RESPONSE', 'LOOKUP_UNAVAILABLE', 'HTTP_500', 'HTTP_502', 'HTTP_504'] as const;

const ORDER_WORKFLOW = 'paymentOrderWorkflow';
const REFUND_WORKFLOW = 'refundWorkflow';
const OPEN_ORDER_STATUSES = PAYMENT_ORDER_STATUSES.filter((s) => !FINAL_ORDER_STATUSES.includes(s));

export type SectionKind = 'order' | 'refund' | 'any';
export type Section = { name: string; title: string; kind: SectionKind; query: string };
export type StuckOptions = { status?: string; olderThanMs: number; sinceMs: number; taskQueue: string; now?: Date };

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');
const ago = (now: Date, ms: number) => new Date(now.getTime() - ms).toISOString();
export const formatDuration = (ms: number): string =>
  ms >= 86_400_000 && ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms >= 3_600_000 && ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1_000)}s`;

/** The sections (title and visibility query) that `options` asks for. */
export function stuckSections(options: StuckOptions): Section[] {
  const now = options.now ?? new Date();
  const older = ago(now, options.olderThanMs);
  const since = ago(now, options.sinceMs);
  const o = formatDuration(options.olderThanMs);
  const s = formatDuration(options.sinceMs);
  const type = (t: string) => `WorkflowType = '${t}' AND TaskQueue = '${options.taskQueue}'`;
  const runningOrClosed = `((ExecutionStatus = 'Running' AND StartTime < '${older}') OR CloseTime > '${since}')`;
  if (options.status !== undefined) {
    if ((REFUND_STATUSES as readonly string[]).includes(options.status)) {
      return [{ name: 'status', title: `refunds ${options.status}, running for longer than ${o} or closed within ${s}`, kind: 'refund', query: `${type(REFUND_WORKFLOW)} AND RefundStatus = '${options.status}' AND ${runningOrClosed}` }];
    }
    return [{ name: 'status', title: `PaymentOrders ${options.status}, running for longer than ${o} or closed within ${s}`, kind: 'order', query: `${type(ORDER_WORKFLOW)} AND PaymentOrderStatus = '${options.status}' AND ${runningOrClosed}` }];
  }
  return [
    { name: 'capturing', title: `PaymentOrders still capturing after ${o}`, kind: 'order', query: `${type(ORDER_WORKFLOW)} AND ExecutionStatus = 'Running' AND PaymentOrderStatus IN (${list(OPEN_ORDER_STATUSES)}) AND StartTime < '${older}'` },
    { name: 'capture-failed', title: `captures failed within ${s}`, kind: 'order', query: `${type(ORDER_WORKFLOW)} AND PaymentOrderStatus = 'CAPTURE_FAILED' AND CloseTime > '${since}'` },
    { name: 'unknown-outcome', title: 'waiting on an unknown PSP outcome (the PSP did not answer; resolved by lookup or retry)', kind: 'any', query: `TaskQueue = '${options.taskQueue}' AND WorkflowType IN ('${ORDER_WORKFLOW}', '${REFUND_WORKFLOW}') AND ExecutionStatus = 'Running' AND LastPspErrorCode IN (${list(UNKNOWN_OUTCOME_CODES)})` },
    { name: 'refund-failed', title: `refunds failed within ${s}`, kind: 'refund', query: `${type(REFUND_WORKFLOW)} AND RefundStatus = 'REFUND_FAILED' AND CloseTime > '${since}'` },
    { name: 'refund-running', title: `refunds still running after ${o}`, kind: 'refund', query: `${type(REFUND_WORKFLOW)} AND ExecutionStatus = 'Running' AND StartTime < '${older}'` },
    { name: 'workflow-failed', title: `PaymentOrder or refund workflows failed, terminated or timed out within ${s}`, kind: 'any', query: `TaskQueue = '${options.taskQueue}' AND WorkflowType IN ('${ORDER_WORKFLOW}', '${REFUND_WORKFLOW}') AND ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut') AND CloseTime > '${since}'` },
  ];
}

export type StuckRow = {
  workflowId: string;
  workflowType: string;
  executionStatus: string;
  paymentId: string | null;
  sellerId: string | null;
  status: string | null;
  attempts: number | null;
  startTime: string;
  closeTime: string | null;
  lastPspErrorCode: string | null;
};

const age = (ms: number) => (ms >= 3_600_000 ? `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m` : ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1_000)}s` : `${Math.floor(ms / 1_000)}s`);

export function formatRows(rows: StuckRow[], now = Date.now()): string[] {
  const header = ['WORKFLOW ID', 'PAYMENT', 'SELLER', 'STATUS', 'EXECUTION', 'ATTEMPTS', 'AGE', 'CLOSED', 'LAST PSP ERROR'];
  const cells = rows.map((r) => [
    r.workflowId,
    r.paymentId ?? '-',
    r.sellerId ?? '-',
    r.status ?? '-',
    r.executionStatus,
    r.attempts === null ? '-' : String(r.attempts),
    age(now - Date.parse(r.startTime)),
    r.closeTime === null ? '-' : `${age(now - Date.parse(r.closeTime))} ago`,
    r.lastPspErrorCode ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  return [header, ...cells].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

const USAGE = `stuck: --status one of ${[...PAYMENT_ORDER_STATUSES, ...REFUND_STATUSES].join(', ')}; --older-than and --since like 90s, 5m, 2h, 1d; --limit 1..10000; --json`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({ options: { 'older-than': { type: 'string' }, since: { type: 'string', default: '1h' }, status: { type: 'string' }, limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } } }));
  } catch (err) {
    console.error(`${USAGE} (${err instanceof Error ? err.message : String(err)})`);
    process.exit(2);
  }
  const status = values.status;
  const finalStatus = status !== undefined && ([...FINAL_ORDER_STATUSES, 'REFUNDED', 'REFUND_FAILED'] as string[]).includes(status);
  // A final status is a closed workflow: by default any age; an open one is stuck after 5 minutes.
  const olderThanMs = parseDurationMs(values['older-than'] ?? (finalStatus ? '0s' : '5m'));
  const sinceMs = parseDurationMs(values.since);
  const limit = Number(values.limit);
  if (olderThanMs === undefined || sinceMs === undefined || (status !== undefined && !([...PAYMENT_ORDER_STATUSES, ...REFUND_STATUSES] as string[]).includes(status)) || !(Number.isInteger(limit) && limit > 0 && limit <= 10_000)) {
    console.error(USAGE);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const sections = stuckSections({ status, olderThanMs, sinceMs, taskQueue: config.TEMPORAL_TASK_QUEUE });
  const results: Array<Section & { rows: StuckRow[] }> = [];
  try {
    for (const section of sections) {
      const rows: StuckRow[] = [];
      for await (const execution of client.workflow.list({ query: section.query, pageSize: Math.min(limit, 1_000) })) {
        const sa = execution.typedSearchAttributes;
        rows.push({
          workflowId: execution.workflowId,
          workflowType: execution.type,
          executionStatus: execution.status.name,
          paymentId: sa.get(SA_PAYMENT_ID) ?? null,
          sellerId: sa.get(SA_SELLER_ID) ?? null,
          status: sa.get(SA_PAYMENT_ORDER_STATUS) ?? sa.get(SA_REFUND_STATUS) ?? null,
          attempts: sa.get(SA_CAPTURE_ATTEMPTS) ?? null,
          startTime: execution.startTime.toISOString(),
          closeTime: execution.closeTime?.toISOString() ?? null,
          lastPspErrorCode: sa.get(SA_LAST_PSP_ERROR_CODE) ?? null,
        });
        if (rows.length >= limit) break;
      }
      results.push({ ...section, rows });
    }
  } finally {
    await client.connection.close();
  }
  if (values.json) {
    console.log(JSON.stringify({ sections: results }, null, 2));
    return;
  }
  for (const section of results) {
    console.log(`== ${section.title}: ${section.rows.length}${section.rows.length >= limit ? '+' : ''}`);
    console.log(`   query: ${section.query}`);
    if (section.rows.length > 0) for (const line of formatRows(section.rows)) console.log(`   ${line}`);
    console.log('');
  }
  const total = results.reduce((n, s) => n + s.rows.length, 0);
  console.log(total === 0 ? 'nothing needs attention' : `${total} workflow(s); explain one with: npm run -s inspect -- <paymentId | paymentOrderId | refundId>`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`stuck: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
