/**
 * The PaymentOrder workflow on a real dev server with the real activities (PSP simulator over
 * HTTP, Postgres, the ledger workflow, Kafka). Backoff is scaled down (base 20 ms, cap 200 ms) so
 * retries are quick; the bounds checked are those of the same formula.
 */
import { eq } from 'drizzle-orm';
import type { Worker } from '@temporalio/worker';
import { journalEntries, paymentOrders, payments } from '../db/schema';
import { equalJitterBoundsMs } from '../domain/backoff';
import { seedAuthorizedPayment, type SeededOrder } from '../test/fixtures';
import { testEnv, uniqueId, waitFor } from '../test/support';
import { createWorkflowHarness, type WorkflowHarness } from '../test/workflow-env';
import { paymentOrderStateQuery, paymentOrderWorkflowId, SA_CAPTURE_ATTEMPTS, SA_LAST_PSP_ERROR_CODE, SA_PAYMENT_ORDER_STATUS, type PaymentOrderInput, type PaymentOrderView } from './contracts';

describe('PaymentOrder workflow', () => {
  let h: WorkflowHarness;
  let worker: Worker;
  let running: Promise<void>;

  beforeAll(async () => {
    h = await createWorkflowHarness();
    worker = await h.createWorker();
    running = worker.run();
  });
  afterAll(async () => {
    worker.shutdown();
    await running;
    await h.teardown();
  });

  const backoff = { baseMs: 20, capMs: 200, attemptsMax: 5 };
  const start = (order: SeededOrder, attemptsMax = backoff.attemptsMax, ledgerHold?: PaymentOrderInput['ledgerHold']) => {
    const input: PaymentOrderInput = { ...order, amountMinor: order.amountMinor.toString(), backoff: { ...backoff, attemptsMax }, commissionBps: 0, ...(ledgerHold ? { ledgerHold } : {}) };
    return h.env.client.workflow.start('paymentOrderWorkflow', { taskQueue: h.taskQueue, workflowId: paymentOrderWorkflowId(order.paymentOrderId), args: [input] });
  };
  const seed = async (token: string) => (await seedAuthorizedPayment(h.dbHandle.db, testEnv().pspBaseUrl, { token, sellers: [{ sellerId: uniqueId('seller'), amountMinor: 1_500n }] }))[0]!;
  const capturesOf = async (reference: string) => ((await (await fetch(`${testEnv().pspBaseUrl}/v1/captures/log?reference=${reference}`)).json()) as { captures: unknown[] }).captures;
  const row = async (paymentOrderId: string) => (await h.dbHandle.db.select().from(paymentOrders).where(eq(paymentOrders.id, paymentOrderId)))[0]!;

  test('tok_capture_retry_3 is captured on attempt 4, each delay inside its jitter bounds', async () => {
    const order = await seed('tok_capture_retry_3');
    const handle = await start(order);
    const view: PaymentOrderView = await handle.result();
    expect(view.status).toBe('CAPTURED');
    expect(view.attempts).toBe(4);
    expect(view.retryDelaysMs).toHaveLength(3);
    view.retryDelaysMs.forEach((delay, i) => {
      const { minMs, maxMs } = equalJitterBoundsMs(i + 1, backoff);
      expect(delay).toBeGreaterThanOrEqual(minMs);
      expect(delay).toBeLessThanOrEqual(maxMs);
    });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(1);
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts]).toEqual(['CAPTURED', 4]);
    const [payment] = await h.dbHandle.db.select().from(payments).where(eq(payments.id, order.paymentId));
    expect(payment!.status).toBe('CAPTURED');
    const attributes = (await handle.describe()).typedSearchAttributes;
    expect(attributes.get(SA_PAYMENT_ORDER_STATUS)).toBe('CAPTURED');
    expect(attributes.get(SA_CAPTURE_ATTEMPTS)).toBe(4);
  });

  const entriesOf = (paymentOrderId: string) =>
    waitFor('both journal entries', async () => {
      const rows = await h.dbHandle.db.select({ entryType: journalEntries.entryType, batchId: journalEntries.batchId }).from(journalEntries).where(eq(journalEntries.paymentOrderId, paymentOrderId));
      return rows.length === 2 ? Object.fromEntries(rows.map((r) => [r.entryType, r.batchId])) : undefined;
    });

  test('the hold travels with the first outcome: one ledger batch for a first-attempt capture', async () => {
    const order = await seed('tok_visa');
    expect(await (await start(order, backoff.attemptsMax, 'with-first-outcome')).result()).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    const batches = await entriesOf(order.paymentOrderId);
    expect(Object.keys(batches).sort()).toEqual(['AUTH_HOLD', 'CAPTURE']);
    expect(batches.AUTH_HOLD).toBe(batches.CAPTURE);
  });

  test('the hold is posted at the first retryable outcome, before the capture that follows', async () => {
    const order = await seed('tok_capture_retry_3');
    expect(await (await start(order, backoff.attemptsMax, 'with-first-outcome')).result()).toMatchObject({ status: 'CAPTURED', attempts: 4 });
    const batches = await entriesOf(order.paymentOrderId);
    expect(Object.keys(batches).sort()).toEqual(['AUTH_HOLD', 'CAPTURE']);
    expect(batches.AUTH_HOLD).not.toBe(batches.CAPTURE);
  });

  test('tok_capture_fail ends CAPTURE_FAILED after one attempt, without retries', async () => {
    const order = await seed('tok_capture_fail');
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view).toMatchObject({ status: 'CAPTURE_FAILED', attempts: 1, retryDelaysMs: [], lastPspError: { code: 'CAPTURE_REJECTED' } });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts, persisted.lastPspError]).toEqual(['CAPTURE_FAILED', 1, expect.stringMatching(/^CAPTURE_REJECTED/)]);
    const [payment] = await h.dbHandle.db.select().from(payments).where(eq(payments.id, order.paymentId));
    expect(payment!.status).toBe('CAPTURE_FAILED');
  });

  test('exhausted attempts end CAPTURE_FAILED with the last PSP error', async () => {
    const order = await seed('tok_capture_retry_9');
    const handle = await start(order, 3);
    const view: PaymentOrderView = await handle.result();
    expect(view).toMatchObject({ status: 'CAPTURE_FAILED', attempts: 3, lastPspError: { code: 'PSP_TEMPORARILY_UNAVAILABLE' } });
    expect(view.retryDelaysMs).toHaveLength(2);
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    expect((await handle.describe()).typedSearchAttributes.get(SA_LAST_PSP_ERROR_CODE)).toBe('PSP_TEMPORARILY_UNAVAILABLE');
  });

  test('the query shows the live status, attempts and last PSP error while retrying', async () => {
    const order = await seed('tok_capture_retry_1');
    const input: PaymentOrderInput = { ...order, amountMinor: order.amountMinor.toString(), backoff: { baseMs: 3_000, capMs: 3_000, attemptsMax: 3 }, commissionBps: 0 };
    const handle = await h.env.client.workflow.start('paymentOrderWorkflow', { taskQueue: h.taskQueue, workflowId: paymentOrderWorkflowId(order.paymentOrderId), args: [input] });
    const during = await waitFor('PENDING_CAPTURE', async () => {
      const v = await handle.query(paymentOrderStateQuery);
      return v.status === 'PENDING_CAPTURE' ? v : undefined;
    });
    expect(during).toMatchObject({ attempts: 1, lastPspError: { code: 'PSP_TEMPORARILY_UNAVAILABLE' } });
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts]).toEqual(['PENDING_CAPTURE', 1]);
    expect((await handle.result()).status).toBe('CAPTURED');
  });

  test('starting the same PaymentOrder twice runs it once', async () => {
    const order = await seed('tok_visa');
    const first = await start(order);
    await expect(start(order)).rejects.toThrow(/already started/i);
    expect((await first.result()).status).toBe('CAPTURED');
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(1);
  });
});
