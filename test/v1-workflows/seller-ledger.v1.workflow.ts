/**
 * The seller ledger workflow exactly as the previous release shipped it (git afb2bc2), kept only to
 * test the upgrade: a worker running this code creates runs that hold facts in their state, and a
 * worker running the current code must take them over without losing or doubling anything.
 */
/**
 * Seller ledger workflow: one long-running, signal-driven workflow per seller. It collects the
 * ledger facts its PaymentOrders report, flushes them in batches (at N facts or T ms after the
 * first pending fact, whichever comes first), commits each batch in one transaction and then
 * publishes it. Before its history grows large it continues as new, carrying the facts it has not
 * committed yet; signals that arrive meanwhile are kept because the SDK waits for handlers and the
 * server rejects a continue-as-new that would drop a buffered signal (the task is then retried
 * with that signal applied).
 */
import {
  condition,
  continueAsNew,
  allHandlersFinished,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createLedgerActivities } from '../../activities/ledger.activities';
import { journalEntryId } from '../../ledger/journal';
import {
  ledgerFactSignal,
  ledgerFactsSignal,
  sellerLedgerStateQuery,
  type LedgerFactPayload,
  type SellerLedgerInput,
  type SellerLedgerView,
} from '../../workflows/contracts';

/**
 * Commit-and-publish is a local activity: it runs inside this worker's workflow task (one
 * transaction and one Kafka send, milliseconds), so a batch costs one workflow task instead of a
 * round trip through the activity task queue. It is retried without an attempt limit - a recorded
 * fact must reach Kafka - and a worker that dies mid-way leaves the workflow task to time out and
 * run again elsewhere, repeating the idempotent commit and the publish.
 */
const activities = proxyLocalActivities<ReturnType<typeof createLedgerActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['UnbalancedEntryError'] },
});

export async function sellerLedgerWorkflow(input: SellerLedgerInput): Promise<void> {
  const { batchMaxItems, batchMaxWaitMs, historyEventsMax } = input.settings;
  const pending: LedgerFactPayload[] = [];
  const pendingIds = new Set<string>();
  const view: SellerLedgerView = { sellerId: input.sellerId, pending: 0, batchesCommitted: 0, factsCommitted: 0 };

  const accept = (fact: LedgerFactPayload) => {
    // A duplicated signal for a fact still pending is dropped here; one for a fact already
    // committed is dropped by the database (deterministic entry ids).
    const id = journalEntryId(fact.entryType, fact.paymentOrderId!);
    if (pendingIds.has(id)) return;
    pendingIds.add(id);
    pending.push(fact);
    view.pending = pending.length;
  };
  for (const fact of input.carried ?? []) accept(fact);
  setHandler(ledgerFactSignal, accept);
  setHandler(ledgerFactsSignal, (facts) => facts.forEach(accept));
  setHandler(sellerLedgerStateQuery, () => view);

  const info = workflowInfo();
  const shouldContinueAsNew = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= historyEventsMax;
  let batchSeq = 0;

  let busy = false;
  for (;;) {
    await condition(() => pending.length > 0 || shouldContinueAsNew());
    // Group commit: facts that arrive while a batch commits form the next batch, so a busy seller
    // gets large batches by itself. An idle ledger may also linger up to batchMaxWaitMs (0 = not
    // at all: a timer per batch costs more than it saves when a seller sees few payments).
    if (!busy && batchMaxWaitMs > 0 && pending.length > 0 && pending.length < batchMaxItems) {
      await condition(() => pending.length >= batchMaxItems, batchMaxWaitMs);
    }
    busy = false;
    if (pending.length > 0) {
      const batch = pending.splice(0, batchMaxItems);
      for (const fact of batch) pendingIds.delete(journalEntryId(fact.entryType, fact.paymentOrderId!));
      view.pending = pending.length;
      // Deterministic: the same batch id on replay and on every retry of its activity.
      const batchId = `${info.workflowId}/${info.runId}/${batchSeq++}`;
      const result = await activities.commitAndPublishLedgerBatch({ sellerId: input.sellerId, batchId, facts: batch });
      view.batchesCommitted += 1;
      view.factsCommitted += result.entries;
      busy = pending.length > 0;
    }
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof sellerLedgerWorkflow>({ sellerId: input.sellerId, settings: input.settings, carried: [...pending] });
    }
  }
}
