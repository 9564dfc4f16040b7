/**
 * The PaymentOrder workflow on a real dev server with the real activities (PSP simulator over
 * HTTP, Postgres, the ledger workflow, Kafka). Backoff is scaled down (base 20 ms, cap 200 ms) so
 * retries are quick; authorizations that lapse within seconds come from `tok_auth_expires_S`.
 * Every outcome is checked against the PSP's own capture and void logs, not only our database.
 */
import { eq } from 'drizzle-orm';
import type { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { Context } from '@temporalio/activity';
import { createPspActivities, type CaptureInput, type CaptureRecord, type RecordedCaptureOutcome } from '../activities/psp.activities';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { journalEntries, ledgerFacts, paymentOrders, payments } from '../db/schema';
import { equalJitterBoundsMs } from '../domain/backoff';
import { seedAuthorizedPayment, type SeededOrder } from '../test/fixtures';
import { testEnv, uniqueId, waitFor } from '../test/support';
import { createWorkflowHarness, type WorkflowHarness } from '../test/workflow-env';
import {
  CAPTURE_BOUNDED_BY_AUTHORIZATION,
  CAPTURE_RECORDED_BY_ACTIVITY,
  paymentOrderStateQuery,
  paymentOrderWorkflowId,
  SA_CAPTURE_ATTEMPTS,
  SA_LAST_PSP_ERROR_CODE,
  SA_PAYMENT_ORDER_STATUS,
  type PaymentOrderInput,
  type PaymentOrderView,
} from './contracts';
import { CAPTURE_WINDOW_CLOSED } from './payment-order.workflow';

describe('PaymentOrder workflow', () => {
  let h: WorkflowHarness;
  let worker: Worker;
  let running: Promise<void>;
  const notRecordedByCapture = new Set<string>();
  /** Orders whose capture activity records the capture and then fails every time, as does their lookup. */
  const answerLost = new Set<string>();
  /**
   * Orders here see the first captureAndRecord attempt commit its recording and then lose its
   * completion (a worker crash or a timeout right after the commit): Temporal retries the activity.
   * 'cancelled-meanwhile': the payment's cancel (recorded while the order was open, its transaction
   * ahead of the recording's) is in Postgres when the retry reads it. 'psp-unreachable': the retry
   * and the workflow's lookup find the PSP unreachable (connection refused). 'every-attempt-lost':
   * the retries are lost too (the activity fails), and the lookup finds the PSP unreachable.
   */
  const completionLostAfterRecording = new Map<string, 'cancelled-meanwhile' | 'psp-unreachable' | 'every-attempt-lost'>();

  let unreachablePsp: ReturnType<typeof createPspActivities>;

  beforeAll(async () => {
    h = await createWorkflowHarness();
    // The same activities against a PSP address nothing listens on (connection refused).
    unreachablePsp = createPspActivities({ psp: createHttpPsp({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 500 }), db: h.dbHandle.db });
    // Orders in `notRecordedByCapture` see the capture activity return a confirmed capture it did
    // not record (as when Postgres fails right after the PSP answered).
    worker = await h.createWorker((activities) => ({
      ...activities,
      async lookupCapture(input: { paymentOrderId: string }) {
        const psp = activities as unknown as ReturnType<typeof createPspActivities>;
        if (answerLost.has(input.paymentOrderId)) throw new Error('test: the lookup fails too');
        const lost = completionLostAfterRecording.get(input.paymentOrderId);
        return lost === 'psp-unreachable' || lost === 'every-attempt-lost' ? unreachablePsp.lookupCapture(input) : psp.lookupCapture(input);
      },
      async captureAndRecord(input: CaptureInput & { record: CaptureRecord }): Promise<RecordedCaptureOutcome> {
        const psp = activities as unknown as ReturnType<typeof createPspActivities>;
        if (answerLost.has(input.paymentOrderId)) {
          await psp.captureAndRecord(input);
          throw new Error('test: recorded, the answer lost');
        }
        const lost = completionLostAfterRecording.get(input.paymentOrderId);
        if (lost) {
          if (Context.current().info.attempt === 1) {
            const first = await psp.captureAndRecord(input);
            if (lost === 'cancelled-meanwhile') await h.dbHandle.db.update(paymentOrders).set({ cancelRequestedAt: new Date() }).where(eq(paymentOrders.id, input.paymentOrderId));
            throw new Error(`completion of ${JSON.stringify(first)} lost after the recording committed`);
          }
          if (lost === 'psp-unreachable') return unreachablePsp.captureAndRecord(input);
          if (lost === 'every-attempt-lost') throw new Error('this attempt was lost too');
          return psp.captureAndRecord(input);
        }
        if (!notRecordedByCapture.has(input.paymentOrderId)) return psp.captureAndRecord(input);
        const { record: _record, ...call } = input;
        const outcome = await psp.captureUnlessCancelled(call);
        return outcome.kind === 'captured' ? { ...outcome, recorded: false } : outcome;
      },
    }));
    running = worker.run();
  });
  afterAll(async () => {
    worker.shutdown();
    await running;
    await h.teardown();
  });

  const backoff = { baseMs: 20, capMs: 200 };
  const start = (order: SeededOrder, overrides: Partial<PaymentOrderInput> = {}) => {
    const input: PaymentOrderInput = {
      ...order,
      amountMinor: order.amountMinor.toString(),
      backoff,
      commissionBps: 0,
      authExpiresAt: order.authExpiresAt,
      captureSafetyMarginMs: 0,
      captureModel: CAPTURE_BOUNDED_BY_AUTHORIZATION,
      captureRecording: CAPTURE_RECORDED_BY_ACTIVITY,
      ...overrides,
    };
    return h.env.client.workflow.start('paymentOrderWorkflow', { taskQueue: h.taskQueue, workflowId: paymentOrderWorkflowId(order.paymentOrderId), args: [input] });
  };
  const seed = async (token: string) => (await seedAuthorizedPayment(h.dbHandle.db, testEnv().pspBaseUrl, { token, sellers: [{ sellerId: uniqueId('seller'), amountMinor: 1_500n }] }))[0]!;
  const pspLog = async <T>(what: 'captures' | 'voids', reference: string) => ((await (await fetch(`${testEnv().pspBaseUrl}/v1/${what}/log?reference=${reference}`)).json()) as Record<string, T[]>)[what]!;
  const capturesOf = (reference: string) => pspLog<{ captureId: string }>('captures', reference);
  const voidsOf = (reference: string) => pspLog<{ voidId: string }>('voids', reference);
  const row = async (paymentOrderId: string) => (await h.dbHandle.db.select().from(paymentOrders).where(eq(paymentOrders.id, paymentOrderId)))[0]!;
  const factsOf = async (paymentOrderId: string) => (await h.dbHandle.db.select({ entryType: ledgerFacts.entryType, metadata: ledgerFacts.metadata }).from(ledgerFacts).where(eq(ledgerFacts.paymentOrderId, paymentOrderId))).map((f) => f.entryType).sort();
  const entriesOf = (paymentOrderId: string, count: number) =>
    waitFor(`${count} journal entries`, async () => {
      const rows = await h.dbHandle.db.select({ entryType: journalEntries.entryType, batchId: journalEntries.batchId, metadata: journalEntries.metadata }).from(journalEntries).where(eq(journalEntries.paymentOrderId, paymentOrderId));
      return rows.length === count ? Object.fromEntries(rows.map((r) => [r.entryType, r])) : undefined;
    });

  test('tok_capture_retry_3 is captured on attempt 4, each delay inside its jitter bounds, the capture id stored and journaled', async () => {
    const order = await seed('tok_capture_retry_3');
    const handle = await start(order);
    const view: PaymentOrderView = await handle.result();
    expect(view).toMatchObject({ status: 'CAPTURED', attempts: 4, unknownOutcomes: 0 });
    expect(view.retryDelaysMs).toHaveLength(3);
    view.retryDelaysMs.forEach((delay, i) => {
      const { minMs, maxMs } = equalJitterBoundsMs(i + 1, backoff);
      expect(delay).toBeGreaterThanOrEqual(minMs);
      expect(delay).toBeLessThanOrEqual(maxMs);
    });
    const captures = await capturesOf(order.paymentOrderId);
    expect(captures).toHaveLength(1);
    expect(view.pspCaptureId).toBe(captures[0]!.captureId);
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts, persisted.pspCaptureId]).toEqual(['CAPTURED', 4, captures[0]!.captureId]);
    const [payment] = await h.dbHandle.db.select().from(payments).where(eq(payments.id, order.paymentId));
    expect(payment!.status).toBe('CAPTURED');
    const attributes = (await handle.describe()).typedSearchAttributes;
    expect(attributes.get(SA_PAYMENT_ORDER_STATUS)).toBe('CAPTURED');
    expect(attributes.get(SA_CAPTURE_ATTEMPTS)).toBe(4);
    // The CAPTURE entry carries the PSP's capture id; the hold went with the first outcome.
    const entries = await entriesOf(order.paymentOrderId, 2);
    expect(entries.CAPTURE!.metadata).toEqual({ pspCaptureId: captures[0]!.captureId });
    expect(entries.AUTH_HOLD!.batchId).not.toBe(entries.CAPTURE!.batchId);
  });

  test('the hold travels with the first outcome: one ledger batch for a first-attempt capture', async () => {
    const order = await seed('tok_visa');
    expect(await (await start(order)).result()).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    const entries = await entriesOf(order.paymentOrderId, 2);
    expect(entries.AUTH_HOLD!.batchId).toBe(entries.CAPTURE!.batchId);
  });

  /** The history's local-activity markers (a step each) and activity tasks scheduled. */
  /** One capture on the PSP's log; Postgres holds the order CAPTURED under its id, with both facts. */
  const expectCapturedOnceAndRecorded = async (paymentOrderId: string) => {
    const captures = await capturesOf(paymentOrderId);
    expect(captures).toHaveLength(1);
    const persisted = await row(paymentOrderId);
    expect([persisted.status, persisted.pspCaptureId]).toEqual(['CAPTURED', captures[0]!.captureId]);
    expect(await factsOf(paymentOrderId)).toEqual(['AUTH_HOLD', 'CAPTURE']);
  };

  const historyShape = async (workflowId: string) => {
    const events = (await h.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const { EventType } = temporal.api.enums.v1;
    return {
      steps: events.filter((e) => e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED).length,
      activities: events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name),
    };
  };

  test('the capture activity records a confirmed capture itself: CAPTURED, facts and event in Postgres, no step in the history', async () => {
    const order = await seed('tok_visa');
    const handle = await start(order);
    expect(await handle.result()).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    expect(await historyShape(handle.workflowId)).toEqual({ steps: 0, activities: ['captureAndRecord'] });
    const captures = await capturesOf(order.paymentOrderId);
    expect(captures).toHaveLength(1);
    expect([(await row(order.paymentOrderId)).status, (await row(order.paymentOrderId)).pspCaptureId]).toEqual(['CAPTURED', captures[0]!.captureId]);
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'CAPTURE']);
    const entries = await entriesOf(order.paymentOrderId, 2);
    expect(entries.CAPTURE!.metadata).toEqual({ pspCaptureId: captures[0]!.captureId });
    expect((await handle.describe()).typedSearchAttributes.get(SA_PAYMENT_ORDER_STATUS)).toBe('CAPTURED');
  });

  test('a confirmed capture the activity could not record is recorded by the step: CAPTURED once, facts in Postgres', async () => {
    const order = await seed('tok_visa');
    notRecordedByCapture.add(order.paymentOrderId);
    const handle = await start(order);
    expect(await handle.result()).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    expect(await historyShape(handle.workflowId)).toEqual({ steps: 1, activities: ['captureAndRecord'] });
    const captures = await capturesOf(order.paymentOrderId);
    expect(captures).toHaveLength(1);
    expect((await row(order.paymentOrderId)).pspCaptureId).toBe(captures[0]!.captureId);
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'CAPTURE']);
  });

  test('the capture recorded but its answer lost and the lookup failing: the step finds CAPTURED in Postgres, the order ends CAPTURED once', async () => {
    const order = await seed('tok_visa');
    answerLost.add(order.paymentOrderId);
    const handle = await start(order);
    expect(await handle.result()).toMatchObject({ status: 'CAPTURED', attempts: 1, unknownOutcomes: 1 });
    await expectCapturedOnceAndRecorded(order.paymentOrderId);
    expect((await handle.describe()).typedSearchAttributes.get(SA_PAYMENT_ORDER_STATUS)).toBe('CAPTURED');
  }, 60_000);

  test('a workflow started before captureRecording existed records its capture in a step, as it did', async () => {
    const order = await seed('tok_visa');
    const handle = await start(order, { captureRecording: undefined });
    expect(await handle.result()).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    expect(await historyShape(handle.workflowId)).toEqual({ steps: 1, activities: ['captureUnlessCancelled'] });
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'CAPTURE']);
  });

  test('the final status and its ledger facts are in Postgres together: no workflow state is their only copy', async () => {
    const order = await seed('tok_visa');
    await (await start(order)).result();
    // The facts are rows, written in the transaction that made the order CAPTURED.
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'CAPTURE']);
  });

  test('tok_capture_timeout_5: five calls time out after the PSP captured; the order ends CAPTURED, captured once', async () => {
    // The old code (5 attempts, timeouts retried blindly) booked this as CAPTURE_FAILED.
    const order = await seed('tok_capture_timeout_5');
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view.status).toBe('CAPTURED');
    expect(view.unknownOutcomes).toBeGreaterThanOrEqual(1);
    const captures = await capturesOf(order.paymentOrderId);
    expect(captures).toHaveLength(1);
    expect((await row(order.paymentOrderId)).pspCaptureId).toBe(captures[0]!.captureId);
    expect(await voidsOf(order.paymentOrderId)).toHaveLength(0);
  }, 60_000);

  test('the lookup itself failing leaves the outcome unknown: still retrying, never failed, then CAPTURED once', async () => {
    const order = await seed('tok_capture_timeout_3+tok_lookup_fail_3');
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view).toMatchObject({ status: 'CAPTURED', attempts: 4, unknownOutcomes: 3 });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(1);
    expect(await voidsOf(order.paymentOrderId)).toHaveLength(0);
  }, 60_000);

  test('a PSP unavailable for three times the old retry budget, then back: CAPTURED', async () => {
    // The old budget was 5 attempts; 15 transient failures in a row, then the PSP recovers.
    const order = await seed('tok_capture_retry_15');
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view).toMatchObject({ status: 'CAPTURED', attempts: 16 });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(1);
  }, 60_000);

  test('retrying until the deadline, then a void recorded at the PSP: CAPTURE_FAILED (CAPTURE_WINDOW_CLOSED) with AUTH_RELEASE', async () => {
    const order = await seed('tok_auth_expires_20+tok_capture_retry_100000');
    // Stop 10 s before the authorization lapses: about 10 s of retries, more than the old budget.
    const handle = await start(order, { captureSafetyMarginMs: 10_000 });
    const view: PaymentOrderView = await handle.result();
    expect(view.status).toBe('CAPTURE_FAILED');
    expect(view.lastPspError?.code).toBe(CAPTURE_WINDOW_CLOSED);
    expect(view.attempts).toBeGreaterThan(5);
    expect(await voidsOf(order.paymentOrderId)).toHaveLength(1);
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    expect((await handle.describe()).typedSearchAttributes.get(SA_LAST_PSP_ERROR_CODE)).toBe(CAPTURE_WINDOW_CLOSED);
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'AUTH_RELEASE']);
    await entriesOf(order.paymentOrderId, 2);
  }, 60_000);

  test('no safety margin: the PSP rejects the lapsed authorization, the void says expired, CAPTURE_FAILED with AUTHORIZATION_EXPIRED', async () => {
    const order = await seed('tok_auth_expires_3+tok_capture_retry_100000');
    const handle = await start(order, { captureSafetyMarginMs: 0, authExpiresAt: new Date(Date.now() + 60_000).toISOString() });
    const view: PaymentOrderView = await handle.result();
    expect(view).toMatchObject({ status: 'CAPTURE_FAILED', lastPspError: { code: 'AUTHORIZATION_EXPIRED' } });
    expect((await handle.describe()).typedSearchAttributes.get(SA_LAST_PSP_ERROR_CODE)).toBe('AUTHORIZATION_EXPIRED');
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'AUTH_RELEASE']);
  }, 60_000);

  test('tok_capture_fail: rejected once, the share voided, CAPTURE_FAILED without retries', async () => {
    const order = await seed('tok_capture_fail');
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view).toMatchObject({ status: 'CAPTURE_FAILED', attempts: 1, retryDelaysMs: [], lastPspError: { code: 'CAPTURE_REJECTED' } });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    expect(await voidsOf(order.paymentOrderId)).toHaveLength(1);
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts, persisted.lastPspError]).toEqual(['CAPTURE_FAILED', 1, expect.stringMatching(/^CAPTURE_REJECTED/)]);
    const [payment] = await h.dbHandle.db.select().from(payments).where(eq(payments.id, order.paymentId));
    expect(payment!.status).toBe('CAPTURE_FAILED');
  });

  test('a cancel already in Postgres when the capture is due (its signal not yet delivered): nothing captured, voided, VOIDED', async () => {
    // The API records the cancel, then signals; here the signal never comes, as when it lands
    // while the workflow task that schedules the first capture is running.
    const order = await seed('tok_visa');
    await h.dbHandle.db.update(paymentOrders).set({ cancelRequestedAt: new Date() }).where(eq(paymentOrders.id, order.paymentOrderId));
    const view: PaymentOrderView = await (await start(order)).result();
    expect(view).toMatchObject({ status: 'VOIDED', attempts: 0 });
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(0);
    expect(await voidsOf(order.paymentOrderId)).toHaveLength(1);
    expect((await row(order.paymentOrderId)).status).toBe('VOIDED');
    expect(await factsOf(order.paymentOrderId)).toEqual(['AUTH_HOLD', 'AUTH_RELEASE']);
  });

  test('the query shows the live status, attempts, last PSP error, next attempt and the authorization expiry while retrying', async () => {
    const order = await seed('tok_capture_retry_1');
    const handle = await start(order, { backoff: { baseMs: 3_000, capMs: 3_000 } });
    const during = await waitFor('PENDING_CAPTURE', async () => {
      const v = await handle.query(paymentOrderStateQuery);
      return v.status === 'PENDING_CAPTURE' ? v : undefined;
    });
    expect(during).toMatchObject({ attempts: 1, lastPspError: { code: 'PSP_TEMPORARILY_UNAVAILABLE' }, authExpiresAt: order.authExpiresAt });
    expect(Date.parse(during.nextAttemptAt!)).toBeGreaterThan(Date.now() - 1_000);
    const persisted = await row(order.paymentOrderId);
    expect([persisted.status, persisted.captureAttempts]).toEqual(['PENDING_CAPTURE', 1]);
    expect((await handle.result()).status).toBe('CAPTURED');
  });

  // Review of issue 21: the capture activity's recording commits CAPTURED, then its completion is
  // lost and Temporal retries it. The retry, or the workflow after it, must still end CAPTURED.
  test('recording committed, completion lost, the retry finds the payment cancelled: the workflow ends CAPTURED (not failed)', async () => {
    const order = await seed('tok_visa');
    completionLostAfterRecording.set(order.paymentOrderId, 'cancelled-meanwhile');
    const handle = await start(order);
    const view: PaymentOrderView = await handle.result();
    expect(view).toMatchObject({ status: 'CAPTURED', attempts: 1 });
    // The retry answers from Postgres (CAPTURED is recorded): no void is tried, no step follows.
    expect(await historyShape(handle.workflowId)).toEqual({ steps: 0, activities: ['captureAndRecord'] });
    await expectCapturedOnceAndRecorded(order.paymentOrderId);
    expect((await row(order.paymentOrderId)).captureAttempts).toBe(1);
  });

  test.each([
    ['psp-unreachable', 'the retry finds the PSP unreachable'],
    ['every-attempt-lost', 'every attempt of the capture activity lost, the lookup finds the PSP unreachable'],
  ] as const)('recording committed, completion lost (%s: %s): the workflow ends CAPTURED (not failed)', async (mode, _what) => {
    const order = await seed('tok_visa');
    completionLostAfterRecording.set(order.paymentOrderId, mode);
    const handle = await start(order);
    // Once the retries have failed, the PSP is reachable again (only the faulted calls were not).
    setTimeout(() => completionLostAfterRecording.delete(order.paymentOrderId), 8_000);
    const view: PaymentOrderView = await handle.result();
    expect(view.status).toBe('CAPTURED');
    await expectCapturedOnceAndRecorded(order.paymentOrderId);
  }, 60_000);

  test('starting the same PaymentOrder twice runs it once', async () => {
    const order = await seed('tok_visa');
    const first = await start(order);
    await expect(start(order)).rejects.toThrow(/already started/i);
    expect((await first.result()).status).toBe('CAPTURED');
    expect(await capturesOf(order.paymentOrderId)).toHaveLength(1);
  });
});
