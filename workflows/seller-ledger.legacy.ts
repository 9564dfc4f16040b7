/**
 * The seller ledger as it was when it kept reported facts in its own state: runs started by that
 * version replay on this code, command for command. As soon as such a run executes live on this
 * version, it hands over: it continues as new (patch `ledger-facts-in-postgres-handover`),
 * carrying its uncommitted facts, and the new run (current code) writes them to Postgres first.
 * Until then, its batch activity (same name as before) records its facts in Postgres and commits
 * them through the same path as the current code, so sequence numbers stay gapless.
 */
import {
  condition,
  continueAsNew,
  allHandlersFinished,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createLedgerActivities } from '../activities/ledger.activities';
import { journalEntryId } from '../ledger/journal';
import {
  LEDGER_FACTS_IN_POSTGRES,
  ledgerFactSignal,
  ledgerFactsSignal,
  ledgerWakeSignal,
  sellerLedgerStateQuery,
  type LedgerFactPayload,
  type SellerLedgerInput,
  type SellerLedgerView,
} from './contracts';

/** As in that version: commit-and-publish as a local activity, retried without limit. */
const activities = proxyLocalActivities<ReturnType<typeof createLedgerActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: Number.POSITIVE_INFINITY, nonRetryableErrorTypes: ['UnbalancedEntryError'] },
});

/** The patch whose marker makes a legacy run hand over to the current code. */
export const LEDGER_HANDOVER = 'ledger-facts-in-postgres-handover';

export async function legacySellerLedgerWorkflow(input: SellerLedgerInput): Promise<void> {
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
  // The current version's PaymentOrders only send wake-ups (their facts are in Postgres): one makes
  // this run hand over. No wake-up exists in a history of the old version, so replay is unchanged.
  let woken = false;
  setHandler(ledgerWakeSignal, () => {
    woken = true;
  });
  setHandler(sellerLedgerStateQuery, () => view);

  const info = workflowInfo();
  const shouldContinueAsNew = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= historyEventsMax;
  let batchSeq = 0;

  let busy = false;
  for (;;) {
    if (patched(LEDGER_HANDOVER)) {
      await condition(allHandlersFinished);
      // The next run is the current code's (sellerLedgerWorkflow reads `journal`).
      await continueAsNew<typeof legacySellerLedgerWorkflow>({ sellerId: input.sellerId, settings: input.settings, carried: [...pending], journal: LEDGER_FACTS_IN_POSTGRES });
    }
    await condition(() => pending.length > 0 || woken || shouldContinueAsNew());
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
      await continueAsNew<typeof legacySellerLedgerWorkflow>({ sellerId: input.sellerId, settings: input.settings, carried: [...pending] });
    }
  }
}
