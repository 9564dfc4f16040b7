/**
 * A PaymentOrder started by the previous release's worker (test/v1-workflows) whose
 * capture is ambiguous (`tok_capture_timeout_9`: the PSP captures on the first call, every reply
 * times out) and which finishes on the current worker - i.e. on payment-order.legacy.ts. Prints
 * its final status next to the PSP's capture log.
 *   scripts/stack up all && node --import tsx test/legacy-lost-sale.ts
 * Two processes (one per workflow bundle), as scripts/record-histories.ts does.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { eq } from 'drizzle-orm';
import { createLedgerSignalActivities } from '../activities/ledger-signal.activities';
import { createPaymentOrderActivities } from '../activities/payment-order.activities';
import { createPspActivities } from '../activities/psp.activities';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { paymentOrders } from '../db/schema';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { seedAuthorizedPayment } from './fixtures';
import { paymentOrderWorkflowId, type PaymentOrderInput } from '../workflows/contracts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STATE = path.join(os.tmpdir(), 'review-legacy-lost-sale.json');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { phase: { type: 'string' } } });
  if (values.phase === undefined) {
    for (const phase of ['v1', 'current']) execFileSync(process.execPath, ['--import', 'tsx', __filename, '--phase', phase], { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
    return;
  }
  const config = loadConfigOrExit();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 3, applicationName: 'review-legacy' });
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
  const taskQueue = values.phase === 'v1' ? `review-legacy-${Date.now().toString(36)}` : (JSON.parse(readFileSync(STATE, 'utf8')) as { taskQueue: string }).taskQueue;
  const ledgerSignal = createLedgerSignalActivities({ client, taskQueue: config.TEMPORAL_TASK_QUEUE, settings: { batchMaxItems: 10, batchMaxWaitMs: 0, historyEventsMax: 10_000 } });
  const activities = {
    ...createPspActivities({ psp: createHttpPsp({ baseUrl: config.PSP_BASE_URL, timeoutMs: 1_000 }), db }),
    ...createPaymentOrderActivities({ db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) }),
  };
  const worker = await Worker.create({ connection, taskQueue, activities, workflowsPath: values.phase === 'v1' ? require.resolve('../test/v1-workflows') : require.resolve('../workflows') });
  const running = worker.run();
  try {
    if (values.phase === 'v1') {
      const [order] = await seedAuthorizedPayment(db, config.PSP_BASE_URL, { token: 'tok_capture_timeout_9', sellers: [{ sellerId: `review-legacy-${Date.now().toString(36)}`, amountMinor: 1_234n }] });
      const input: PaymentOrderInput = { ...order!, amountMinor: order!.amountMinor.toString(), backoff: { baseMs: 4_000, capMs: 4_000, attemptsMax: 3 }, commissionBps: 0, ledgerHold: 'with-first-outcome' };
      writeFileSync(STATE, JSON.stringify({ taskQueue, paymentOrderId: input.paymentOrderId }));
      await client.workflow.start('paymentOrderWorkflow', { taskQueue, workflowId: paymentOrderWorkflowId(input.paymentOrderId), args: [input] });
      // The first attempt (the PSP captures, the reply times out) runs on the previous release.
      await sleep(2_500);
      console.log(`v1 worker ran the first attempt of ${input.paymentOrderId}; stopping it (a deploy)`);
    } else {
      const { paymentOrderId } = JSON.parse(readFileSync(STATE, 'utf8')) as { paymentOrderId: string };
      const result = await client.workflow.getHandle(paymentOrderWorkflowId(paymentOrderId)).result();
      const [row] = await db.select({ status: paymentOrders.status, lastPspError: paymentOrders.lastPspError, pspCaptureId: paymentOrders.pspCaptureId }).from(paymentOrders).where(eq(paymentOrders.id, paymentOrderId));
      const log = (await (await fetch(`${config.PSP_BASE_URL}/v1/captures/log?reference=${paymentOrderId}`)).json()) as { captures: Array<{ captureId: string; at: string }> };
      console.log(`RESULT ${JSON.stringify({ paymentOrderId, workflowStatus: result.status, status: row?.status, pspCaptureId: row?.pspCaptureId, pspCaptureIds: log.captures.map((c) => c.captureId) })}`);
      console.log(`current worker finished ${paymentOrderId}: workflow ${JSON.stringify(result.status)}, database ${row?.status} (${row?.lastPspError}); PSP captures: ${JSON.stringify(log.captures)}`);
    }
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
