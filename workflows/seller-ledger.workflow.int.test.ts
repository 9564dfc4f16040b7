/**
 * The seller ledger workflow on a real dev server, with real Postgres and Kafka: duplicated
 * signals, a commit retried after it had committed, and continue-as-new under a tiny history
 * threshold lose nothing and double nothing.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { inArray } from 'drizzle-orm';
import { journalEntries, postings } from '../db/schema';
import { collectLedgerEvents } from '../test/fixtures';
import { testConfig, uniqueId, waitFor } from '../test/support';
import { createWorkflowHarness, type WorkflowHarness } from '../test/workflow-env';
import { ledgerFactSignal, sellerLedgerStateQuery, sellerLedgerWorkflowId, type LedgerFactPayload } from './contracts';

const fact = (sellerId: string, entryType: LedgerFactPayload['entryType'] = 'AUTH_HOLD', paymentOrderId = randomUUID()): LedgerFactPayload => ({
  entryType,
  paymentOrderId,
  paymentId: randomUUID(),
  sellerId,
  amountMinor: '1000',
  currency: 'EUR',
  commissionBps: 100,
});

async function withHarness(options: Parameters<typeof createWorkflowHarness>[0], wrap: Parameters<WorkflowHarness['createWorker']>[0] | undefined, body: (h: WorkflowHarness) => Promise<void>) {
  const h = await createWorkflowHarness(options);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  try {
    worker = await h.createWorker(wrap);
    running = worker.run();
    await body(h);
  } finally {
    worker?.shutdown();
    await running;
    await h.teardown();
  }
}

const signal = (h: WorkflowHarness, f: LedgerFactPayload) =>
  h.env.client.workflow.signalWithStart('sellerLedgerWorkflow', {
    workflowId: sellerLedgerWorkflowId(f.sellerId),
    taskQueue: h.taskQueue,
    args: [{ sellerId: f.sellerId, settings: h.ledgerSettings }],
    signal: ledgerFactSignal,
    signalArgs: [f],
  });

const entriesFor = (h: WorkflowHarness, ids: string[]) => h.dbHandle.db.select().from(journalEntries).where(inArray(journalEntries.id, ids));

describe('seller ledger workflow', () => {
  const config = () => testConfig();

  test('duplicated signals add one entry and the published events carry it once per batch', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    try {
      await withHarness({}, undefined, async (h) => {
        const sellerId = uniqueId('seller-dup');
        const f = fact(sellerId, 'CAPTURE');
        for (let i = 0; i < 3; i++) await signal(h, f);
        const id = `CAPTURE:${f.paymentOrderId}`;
        await waitFor('the entry committed', async () => (await entriesFor(h, [id])).length === 1);
        // A late duplicate after the commit is dropped by the database.
        await signal(h, f);
        const handle = h.env.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId));
        await waitFor('the late duplicate processed', async () => (await handle.query(sellerLedgerStateQuery)).batchesCommitted >= 2);
        expect(await entriesFor(h, [id])).toHaveLength(1);
        const posted = await h.dbHandle.db.select().from(postings).where(inArray(postings.journalEntryId, [id]));
        expect(posted.map((p) => [p.accountCode, p.direction, p.amountMinor])).toEqual([
          ['AUTH_LIABILITY', 'DEBIT', 1000n],
          ['AUTH_RECEIVABLE', 'CREDIT', 1000n],
          ['PSP_RECEIVABLES', 'DEBIT', 1000n],
          [`MERCHANT_PAYABLE.${sellerId}`, 'CREDIT', 990n],
          ['PLATFORM_COMMISSION_REVENUE', 'CREDIT', 10n],
        ]);
        const events = await waitFor('the event', async () => {
          const mine = collector.events.filter((e) => e.aggregateId === sellerId);
          return mine.length > 0 ? mine : undefined;
        });
        expect(events.flatMap((e) => e.data.entries.map((x) => x.journalEntryId))).toEqual([id]);
        expect(events[0]).toMatchObject({ eventType: 'LedgerEntriesRecorded', aggregateId: sellerId, eventId: expect.stringContaining(sellerLedgerWorkflowId(sellerId)) });
      });
    } finally {
      await collector.stop();
    }
  });

  test('a commit whose result was lost (activity retried after the transaction committed) still publishes its entries, once', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    let failedOnce = false;
    try {
      await withHarness(
        {},
        (activities) => ({
          ...activities,
          // The first attempt commits, then "dies" before publishing; the retry is the real thing.
          async commitAndPublishLedgerBatch(input: { sellerId: string }) {
            if (!failedOnce && input.sellerId.startsWith('seller-lost')) {
              await activities.commitLedgerBatch!(input);
              failedOnce = true;
              throw ApplicationFailure.create({ type: 'SimulatedCrash', message: 'worker died after the commit, before publishing' });
            }
            return activities.commitAndPublishLedgerBatch!(input);
          },
        }),
        async (h) => {
          const sellerId = uniqueId('seller-lost');
          const facts = [fact(sellerId), fact(sellerId), fact(sellerId)];
          for (const f of facts) await signal(h, f);
          const ids = facts.map((f) => `AUTH_HOLD:${f.paymentOrderId}`);
          const events = await waitFor('all entries published', async () => {
            const seen = collector.events.filter((e) => e.aggregateId === sellerId).flatMap((e) => e.data.entries.map((x) => x.journalEntryId));
            return ids.every((id) => seen.includes(id)) ? seen : undefined;
          });
          expect(failedOnce).toBe(true);
          expect([...events].sort()).toEqual([...ids].sort());
          expect(await entriesFor(h, ids)).toHaveLength(3);
        },
      );
    } finally {
      await collector.stop();
    }
  });

  test('continue-as-new with a tiny history threshold loses and doubles nothing', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    try {
      await withHarness({ extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40'], ledgerSettings: { batchMaxItems: 3, batchMaxWaitMs: 20 } }, undefined, async (h) => {
        const sellerId = uniqueId('seller-can');
        const facts = Array.from({ length: 60 }, () => fact(sellerId));
        // Signals arrive while batches commit and while the workflow continues as new.
        await Promise.all(facts.map(async (f, i) => {
          await new Promise((r) => setTimeout(r, i * 15));
          await signal(h, f);
          if (i % 7 === 0) await signal(h, f); // and some duplicates
        }));
        const ids = facts.map((f) => `AUTH_HOLD:${f.paymentOrderId}`);
        await waitFor('all 60 entries committed', async () => (await entriesFor(h, ids)).length === 60, 60_000, 200);
        const events = await waitFor('all 60 entries published', async () => {
          const mine = collector.events.filter((e) => e.aggregateId === sellerId);
          const all = mine.flatMap((e) => e.data.entries.map((x) => x.journalEntryId));
          return ids.every((id) => all.includes(id)) ? mine : undefined;
        }, 30_000);
        // At least once: an event may be delivered again (a workflow task retried after its local
        // activity had published), always under its batch's event id. No entry belongs to two batches.
        const batchesOf = new Map<string, Set<string>>();
        for (const e of events) for (const x of e.data.entries) batchesOf.set(x.journalEntryId, (batchesOf.get(x.journalEntryId) ?? new Set()).add(e.eventId));
        expect(batchesOf.size).toBe(60);
        expect([...batchesOf.values()].filter((b) => b.size !== 1)).toEqual([]);
        const runs = [];
        for await (const execution of h.env.client.workflow.list({ query: `WorkflowId = '${sellerLedgerWorkflowId(sellerId)}'` })) runs.push(execution);
        expect(runs.length).toBeGreaterThan(1);
      });
    } finally {
      await collector.stop();
    }
  });
});
