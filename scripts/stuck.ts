/**
 * Lists PaymentOrders that look stuck, from Temporal's visibility store (no SQL): running
 * PaymentOrder workflows in a status (default PENDING_CAPTURE) that started longer ago than
 * --older-than. Prints status, attempts, age and the last PSP error code, and the query it used
 * (paste it into the Web UI's search box).
 *
 *   npm run -s stuck -- [--older-than 5m] [--status PENDING_CAPTURE] [--limit 100]
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../config/config';
import { PAYMENT_ORDER_STATUSES } from '../domain/payment-status';
import { connectTemporalClient } from '../temporal/client';
import { SA_CAPTURE_ATTEMPTS, SA_LAST_PSP_ERROR_CODE, SA_PAYMENT_ID, SA_PAYMENT_ORDER_STATUS, SA_SELLER_ID } from '../workflows/contracts';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d{1,6})([smhd])$/.exec(text);
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

/** The visibility query for running PaymentOrders in `status` started before `before`. */
export function stuckQuery(status: string, before: Date): string {
  return `WorkflowType = 'paymentOrderWorkflow' AND ExecutionStatus = 'Running' AND PaymentOrderStatus = '${status}' AND StartTime < '${before.toISOString()}'`;
}

const age = (ms: number) => (ms >= 3_600_000 ? `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m` : ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1_000)}s` : `${Math.floor(ms / 1_000)}s`);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'older-than': { type: 'string', default: '5m' }, status: { type: 'string', default: 'PENDING_CAPTURE' }, limit: { type: 'string', default: '100' } } });
  const olderThanMs = parseDurationMs(values['older-than']);
  const limit = Number(values.limit);
  if (olderThanMs === undefined || !PAYMENT_ORDER_STATUSES.includes(values.status as never) || !(Number.isInteger(limit) && limit > 0 && limit <= 10_000)) {
    console.error(`stuck: --older-than like 90s, 5m, 2h; --status one of ${PAYMENT_ORDER_STATUSES.join(', ')}; --limit 1..10000`);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const query = stuckQuery(values.status, new Date(Date.now() - olderThanMs));
  console.log(`query: ${query}`);
  const rows: string[][] = [];
  for await (const execution of client.workflow.list({ query, pageSize: Math.min(limit, 1_000) })) {
    const sa = execution.typedSearchAttributes;
    rows.push([
      execution.workflowId,
      sa.get(SA_PAYMENT_ID) ?? '-',
      sa.get(SA_SELLER_ID) ?? '-',
      sa.get(SA_PAYMENT_ORDER_STATUS) ?? '-',
      String(sa.get(SA_CAPTURE_ATTEMPTS) ?? 0),
      age(Date.now() - execution.startTime.getTime()),
      sa.get(SA_LAST_PSP_ERROR_CODE) ?? '-',
    ]);
    if (rows.length >= limit) break;
  }
  await client.connection.close();
  if (rows.length === 0) {
    console.log(`no PaymentOrder has been ${values.status} for longer than ${values['older-than']}`);
    return;
  }
  const header = ['WORKFLOW ID', 'PAYMENT', 'SELLER', 'STATUS', 'ATTEMPTS', 'AGE', 'LAST PSP ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`${rows.length} PaymentOrder(s); inspect one with: temporal workflow describe -w <WORKFLOW ID>, or npm run -s replay -- --workflow-id <WORKFLOW ID>`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`stuck: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
