/**
 * The seller ledger workflow on a real dev server, with real Postgres and Kafka. Facts live in
 * Postgres; the workflow only journals and publishes them. Terminating it, Kafka being
 * unreachable, a fact that cannot become an entry, continue-as-new and the upgrade from the version
 * that kept facts in workflow state lose nothing and double nothing, and every stream's events
 * carry a gapless sequence.
 */
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { asc, eq, inArray } from 'drizzle-orm';
import { Kafka, logLevel } from 'kafkajs';
import { createLedgerActivities } from '../activities/ledger.activities';
import { insertLedgerFacts } from '../db/ledger-facts';
import { journalEntries, ledgerBatches, ledgerFacts, postings } from '../db/schema';
import { createLazyProducer, type LazyProducer } from '../kafka/client';
import type { LedgerEntriesRecordedEvent } from '../ledger/events';
import { collectLedgerEvents } from '../test/fixtures';
import { testConfig, uniqueId, waitFor } from '../test/support';
import { createWorkflowHarness, type WorkflowHarness } from '../test/workflow-env';
import { LEDGER_FACTS_IN_POSTGRES, ledgerFactsSignal, ledgerWakeSignal, sellerLedgerStateQuery, sellerLedgerWorkflowId, type LedgerFactPayload } from './contracts';

const fact = (sellerId: string, entryType: LedgerFactPayload['entryType'] = 'AUTH_HOLD', paymentOrderId = randomUUID()): LedgerFactPayload => ({
  entryType,
  paymentOrderId,
  paymentId: randomUUID(),
  sellerId,
  amountMinor: '1000',
  currency: 'EUR',
  commissionBps: 100,
});
const idOf = (f: LedgerFactPayload) => `${f.entryType}:${f.paymentOrderId}`;

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

const wake = (h: WorkflowHarness, sellerId: string) =>
  h.env.client.workflow.signalWithStart('sellerLedgerWorkflow', {
    workflowId: sellerLedgerWorkflowId(sellerId),
    taskQueue: h.taskQueue,
    args: [{ sellerId, settings: h.ledgerSettings, journal: LEDGER_FACTS_IN_POSTGRES }],
    signal: ledgerWakeSignal,
    signalArgs: [],
  });

const entriesFor = (h: WorkflowHarness, ids: string[]) => h.dbHandle.db.select().from(journalEntries).where(inArray(journalEntries.id, ids));
const batchesOf = (h: WorkflowHarness, streamId: string) => h.dbHandle.db.select().from(ledgerBatches).where(eq(ledgerBatches.streamId, streamId)).orderBy(asc(ledgerBatches.seq));

/** The stream's events as consumers see them: each sequence once, 1..n, each entry under one sequence. */
function checkStream(events: LedgerEntriesRecordedEvent[], streamId: string, expectedIds: string[]) {
  const bySeq = new Map<number, LedgerEntriesRecordedEvent>();
  for (const e of events.filter((x) => x.aggregateId === streamId)) {
    const seen = bySeq.get(e.sequence);
    // A re-published batch is the same batch: same id, same entries.
    if (seen) expect(seen.eventId).toBe(e.eventId);
    bySeq.set(e.sequence, e);
  }
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  const entryIds = [...bySeq.values()].flatMap((e) => e.data.entries.map((x) => x.journalEntryId));
  expect(entryIds.length).toBe(new Set(entryIds).size);
  expect([...entryIds].sort()).toEqual([...expectedIds].sort());
}

describe('seller ledger workflow', () => {
  const config = () => testConfig();

  test('facts in Postgres are journaled once whatever the number of wake-ups, and published with sequence 1, 2, ...', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    try {
      await withHarness({}, undefined, async (h) => {
        const sellerId = uniqueId('seller-dup');
        const capture = fact(sellerId, 'CAPTURE');
        await insertLedgerFacts(h.dbHandle.db, [capture]);
        for (let i = 0; i < 3; i++) await wake(h, sellerId);
        await waitFor('the entry committed', async () => (await entriesFor(h, [idOf(capture)])).length === 1);
        // A fact inserted again (a retried transition) adds nothing.
        await insertLedgerFacts(h.dbHandle.db, [capture]);
        const later = fact(sellerId);
        await insertLedgerFacts(h.dbHandle.db, [later]);
        await wake(h, sellerId);
        await waitFor('the second entry committed', async () => (await entriesFor(h, [idOf(later)])).length === 1);
        const posted = await h.dbHandle.db.select().from(postings).where(inArray(postings.journalEntryId, [idOf(capture)]));
        expect(posted.map((p) => [p.accountCode, p.direction, p.amountMinor])).toEqual([
          ['AUTH_LIABILITY', 'DEBIT', 1000n],
          ['AUTH_RECEIVABLE', 'CREDIT', 1000n],
          ['PSP_RECEIVABLES', 'DEBIT', 1000n],
          [`MERCHANT_PAYABLE.${sellerId}`, 'CREDIT', 990n],
          ['PLATFORM_COMMISSION_REVENUE', 'CREDIT', 10n],
        ]);
        expect((await batchesOf(h, sellerId)).map((b) => [b.seq, b.entryCount])).toEqual([[1n, 1], [2n, 1]]);
        await waitFor('both events', async () => collector.events.filter((e) => e.aggregateId === sellerId).length >= 2);
        checkStream(collector.events, sellerId, [idOf(capture), idOf(later)]);
      });
    } finally {
      await collector.stop();
    }
  });

  test('terminating the ledger workflow with facts pending loses nothing: the sweep wakes a new one, nothing doubled', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    try {
      await withHarness({ ledgerSettings: { batchMaxItems: 3, batchMaxWaitMs: 0 } }, undefined, async (h) => {
        const sellerId = uniqueId('seller-term');
        const facts = Array.from({ length: 30 }, () => fact(sellerId));
        await insertLedgerFacts(h.dbHandle.db, facts);
        await wake(h, sellerId);
        // Terminate while it works through the backlog (3 facts a batch).
        const handle = h.env.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId));
        await waitFor('a first batch', async () => (await batchesOf(h, sellerId)).length >= 1, 10_000, 20);
        await handle.terminate('operator terminated the ledger (test)');
        const committedAtTermination = (await batchesOf(h, sellerId)).length;
        // What the worker's sweeper does, once: streams whose facts wait, woken.
        const { streamsNeedingWork } = await import('../db/ledger-facts');
        const waiting = await streamsNeedingWork(h.dbHandle.db, { minAgeMs: 0, limit: 100 });
        expect(waiting).toContain(sellerId);
        for (const streamId of waiting.filter((s) => s === sellerId)) await wake(h, streamId);
        const ids = facts.map(idOf);
        await waitFor('all 30 entries committed', async () => (await entriesFor(h, ids)).length === 30, 30_000, 100);
        await waitFor('all published', async () => (await batchesOf(h, sellerId)).every((b) => b.publishedAt !== null));
        expect(committedAtTermination).toBeLessThan(10);
        await waitFor('every entry in an event', async () => {
          const seen = new Set(collector.events.filter((e) => e.aggregateId === sellerId).flatMap((e) => e.data.entries.map((x) => x.journalEntryId)));
          return ids.every((id) => seen.has(id));
        });
        checkStream(collector.events, sellerId, ids);
      });
    } finally {
      await collector.stop();
    }
  });

  test('Kafka unreachable while 5,000 facts arrive for one seller: commits go on, publication catches up in order, payloads stay small, no run fails', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    // Until "Kafka returns", the worker's producer is a real kafkajs client pointed at a port where
    // no broker listens: every publish fails the way it does when the brokers are down.
    const down = createLazyProducer(new Kafka({ clientId: 'ledger-test-down', brokers: ['127.0.0.1:9'], logLevel: logLevel.NOTHING, connectionTimeout: 300, retry: { retries: 0 } }));
    let kafkaUp = false;
    const h = await createWorkflowHarness({ ledgerSettings: { batchMaxItems: 100, batchMaxWaitMs: 0, publishRetryCapMs: 2_000 } });
    const switching: LazyProducer = { send: (record) => (kafkaUp ? h.producer.send(record) : down.send(record)), disconnect: async () => undefined };
    const ledger = createLedgerActivities({ db: h.dbHandle.db, producer: switching, topic: config().LEDGER_TOPIC, publishTimeoutMs: 2_000 });
    const worker = await h.createWorker((activities) => ({ ...activities, journalAndPublish: (input: Parameters<typeof ledger.journalAndPublish>[0]) => ledger.journalAndPublish(input), recordLedgerFacts: (input: Parameters<typeof ledger.recordLedgerFacts>[0]) => ledger.recordLedgerFacts(input) }));
    const running = worker.run();
    try {
      const sellerId = uniqueId('seller-hot');
      const facts = Array.from({ length: 5_000 }, () => fact(sellerId));
      const ids = facts.map(idOf);
      // 10 waves of 500 facts, each followed by a wake-up, as PaymentOrders would send.
      const journaled: number[] = [];
      for (let wave = 0; wave < 10; wave++) {
        await insertLedgerFacts(h.dbHandle.db, facts.slice(wave * 500, (wave + 1) * 500));
        await wake(h, sellerId);
        await new Promise((r) => setTimeout(r, 300));
        journaled.push((await batchesOf(h, sellerId)).reduce((sum, b) => sum + b.entryCount, 0));
      }
      await waitFor('all 5,000 entries journaled while Kafka is down', async () => (await entriesFor(h, ids)).length === 5_000, 60_000, 250);
      // Entries kept committing during the outage; nothing was published.
      expect(journaled[journaled.length - 1]).toBeGreaterThan(journaled[0]!);
      expect((await batchesOf(h, sellerId)).every((b) => b.publishedAt === null)).toBe(true);
      const handle = h.env.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId));
      expect(await handle.query(sellerLedgerStateQuery)).toMatchObject({ unpublished: true, lastPublishError: expect.any(String) });

      kafkaUp = true;
      await waitFor('every batch published after Kafka returned', async () => (await batchesOf(h, sellerId)).every((b) => b.publishedAt !== null), 90_000, 500);
      await waitFor('every entry seen on the topic', async () => {
        const seen = new Set(collector.events.filter((e) => e.aggregateId === sellerId).flatMap((e) => e.data.entries.map((x) => x.journalEntryId)));
        return ids.every((id) => seen.has(id));
      }, 60_000, 500);
      checkStream(collector.events, sellerId, ids);

      // No run failed, and no event of any run's history came near Temporal's payload limits.
      let largest = 0;
      for await (const execution of h.env.client.workflow.list({ query: `WorkflowId = '${sellerLedgerWorkflowId(sellerId)}'` })) {
        expect(['RUNNING', 'CONTINUED_AS_NEW']).toContain(execution.status.name);
        const history = await h.env.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
        for (const event of history.events ?? []) largest = Math.max(largest, JSON.stringify(event).length);
      }
      expect(largest).toBeLessThan(1024 * 1024);
    } finally {
      worker.shutdown();
      await running;
      await down.disconnect();
      await h.teardown();
      await collector.stop();
    }
  }, 240_000);

  test('a fact that cannot become a valid entry is set aside, visibly; the facts behind it are journaled', async () => {
    await withHarness({}, undefined, async (h) => {
      const sellerId = uniqueId('seller-poison');
      const good = [fact(sellerId), fact(sellerId)];
      const poison = { ...fact(sellerId), entryType: 'NOT_A_TYPE' as LedgerFactPayload['entryType'] };
      await insertLedgerFacts(h.dbHandle.db, [good[0]!, poison, good[1]!]);
      await wake(h, sellerId);
      await waitFor('the good facts journaled', async () => (await entriesFor(h, good.map(idOf))).length === 2);
      const [set] = await h.dbHandle.db.select().from(ledgerFacts).where(eq(ledgerFacts.id, idOf(poison)));
      expect(set!.quarantinedAt).not.toBeNull();
      expect(set!.quarantineReason).toMatch(/unknown entry type/);
    });
  });

  test('continue-as-new with a tiny history threshold loses and doubles nothing', async () => {
    const collector = await collectLedgerEvents(config().KAFKA_BROKERS, config().LEDGER_TOPIC);
    try {
      await withHarness({ suggestContinueAsNewAt: 40, ledgerSettings: { batchMaxItems: 3, batchMaxWaitMs: 20 } }, undefined, async (h) => {
        const sellerId = uniqueId('seller-can');
        const facts = Array.from({ length: 60 }, () => fact(sellerId));
        // Facts and wake-ups arrive while batches commit and while the workflow continues as new.
        await Promise.all(facts.map(async (f, i) => {
          await new Promise((r) => setTimeout(r, i * 15));
          await insertLedgerFacts(h.dbHandle.db, [f]);
          await wake(h, sellerId);
        }));
        const ids = facts.map(idOf);
        await waitFor('all 60 entries committed', async () => (await entriesFor(h, ids)).length === 60, 60_000, 200);
        await waitFor('all published', async () => (await batchesOf(h, sellerId)).every((b) => b.publishedAt !== null), 30_000);
        await waitFor('all 60 entries on the topic', async () => {
          const seen = new Set(collector.events.filter((e) => e.aggregateId === sellerId).flatMap((e) => e.data.entries.map((x) => x.journalEntryId)));
          return ids.every((id) => seen.has(id));
        }, 30_000);
        checkStream(collector.events, sellerId, ids);
        const runs = [];
        for await (const execution of h.env.client.workflow.list({ query: `WorkflowId = '${sellerLedgerWorkflowId(sellerId)}'` })) runs.push(execution);
        expect(runs.length).toBeGreaterThan(1);
      });
    } finally {
      await collector.stop();
    }
  });

  test('upgrade: a run of the previous version holding facts in its state hands them over, nothing lost or doubled', async () => {
    const h = await createWorkflowHarness({ ledgerSettings: { batchMaxItems: 2, batchMaxWaitMs: 0 } });
    try {
      const sellerId = uniqueId('seller-upgrade');
      const facts = Array.from({ length: 10 }, () => fact(sellerId));
      const signalFacts = (batch: LedgerFactPayload[]) =>
        h.env.client.workflow.signalWithStart('sellerLedgerWorkflow', { workflowId: sellerLedgerWorkflowId(sellerId), taskQueue: h.taskQueue, args: [{ sellerId, settings: h.ledgerSettings }], signal: ledgerFactsSignal, signalArgs: [batch] });
      // The previous release runs the ledger and commits the first facts the old way.
      const oldWorker = await h.createWorker(undefined, { workflowsPath: require.resolve('../test/v1-workflows') });
      const oldRunning = oldWorker.run();
      await signalFacts(facts.slice(0, 2));
      await waitFor('the old version committed its first facts', async () => (await entriesFor(h, facts.slice(0, 2).map(idOf))).length === 2);
      oldWorker.shutdown();
      await oldRunning;
      // While no worker runs, old-style signals with facts arrive (they sit in the run's history).
      await signalFacts(facts.slice(2, 6));
      await signalFacts(facts.slice(6));
      // The new release takes over.
      const newWorker = await h.createWorker();
      const newRunning = newWorker.run();
      try {
        const ids = facts.map(idOf);
        await waitFor('all 10 entries committed', async () => (await entriesFor(h, ids)).length === 10, 30_000, 200);
        await waitFor('all published', async () => (await batchesOf(h, sellerId)).every((b) => b.publishedAt !== null), 30_000);
        const batches = await batchesOf(h, sellerId);
        expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => BigInt(i + 1)));
        expect(batches.reduce((s, b) => s + b.entryCount, 0)).toBe(10);
        // The run that holds the ledger now is the current code's (facts in Postgres).
        const current = await h.env.client.workflow.getHandle(sellerLedgerWorkflowId(sellerId)).query(sellerLedgerStateQuery);
        expect(current).toMatchObject({ pending: 0, publishFailures: 0 });
      } finally {
        newWorker.shutdown();
        await newRunning;
      }
    } finally {
      await h.teardown();
    }
  }, 120_000);
});
