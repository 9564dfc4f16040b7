/**
 * Seller ledger workflow: one long-running, signal-driven workflow per seller (its ledger
 * stream). Postgres holds the facts; this workflow only decides *when* to journal them.
 *
 * A wake-up signal (from a PaymentOrder step, or from the worker's sweeper) says "Postgres holds
 * facts for you". The workflow then runs one local activity that, in one transaction, journals the
 * stream's pending facts (up to batchMaxItems), gives the batch the stream's next gapless sequence
 * number, and - unless Kafka is known to be down - publishes every committed-but-unpublished batch
 * in sequence order. Commits never wait for Kafka: while publishing fails, commits go on and
 * publication is retried on a jittered timer, catching up in order when Kafka returns.
 *
 * Its state is a few counters, whatever the backlog: terminating, resetting or losing this
 * workflow loses nothing (the next wake-up or sweep starts a new one, which finds the facts), and
 * continue-as-new carries nothing.
 *
 * Runs started by the version that kept facts in workflow state replay on that code
 * (seller-ledger.legacy.ts) and hand over to this one at their first live step.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { createLedgerActivities } from '../activities/ledger.activities';
import { equalJitterDelayMs } from '../domain/backoff';
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
import { legacySellerLedgerWorkflow } from './seller-ledger.legacy';

/** The patch that marks runs of the current code (facts in Postgres). */

/**
 * Journal (and maybe publish) as a local activity: one transaction and at most one Kafka send, in
 * this worker's workflow task. Retried without an attempt limit while Postgres is unreachable.
 * A failed publish is not an activity failure: it comes back in the result, so a Kafka outage
 * never holds back commits.
 */
const ledger = proxyLocalActivities<ReturnType<typeof createLedgerActivities>>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: Number.POSITIVE_INFINITY },
});

/** Publication retries while Kafka is down: equal jitter from 1 s, capped at 30 s by default. */
const PUBLISH_RETRY_BASE_MS = 1_000;
const PUBLISH_RETRY_CAP_MS = 30_000;

export async function sellerLedgerWorkflow(input: SellerLedgerInput): Promise<void> {
  if (input.journal !== LEDGER_FACTS_IN_POSTGRES) return legacySellerLedgerWorkflow(input);
  const streamId = input.sellerId;
  const { batchMaxItems, batchMaxWaitMs, historyEventsMax } = input.settings;
  const publishBackoff = { baseMs: PUBLISH_RETRY_BASE_MS, capMs: Math.max(input.settings.publishRetryCapMs ?? PUBLISH_RETRY_CAP_MS, PUBLISH_RETRY_BASE_MS) };
  const view: SellerLedgerView = { sellerId: streamId, pending: 0, batchesCommitted: 0, factsCommitted: 0, unpublished: false, publishFailures: 0, lastPublishError: null, nextPublishAttemptAt: null };

  // Facts that arrived inside a signal (only from a worker of the previous version during a
  // rolling deploy, or carried by a legacy run's hand-over): written to Postgres before anything.
  const inbound: LedgerFactPayload[] = [...(input.carried ?? [])];
  let woken = true; // on start (and after continue-as-new), look at what Postgres holds
  let publishNotBefore = 0;
  setHandler(ledgerWakeSignal, () => {
    woken = true;
  });
  setHandler(ledgerFactSignal, (fact) => {
    inbound.push(fact);
  });
  setHandler(ledgerFactsSignal, (facts) => {
    inbound.push(...facts);
  });
  setHandler(sellerLedgerStateQuery, () => ({ ...view, pending: inbound.length }));

  const shouldContinueAsNew = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= historyEventsMax;
  const publishDue = () => view.unpublished === true && Date.now() >= publishNotBefore;

  let busy = false;
  for (;;) {
    if (inbound.length > 0) {
      await ledger.recordLedgerFacts({ facts: inbound.splice(0, inbound.length) });
      woken = true;
    }
    if (shouldContinueAsNew()) {
      // Nothing to carry: the next run starts by looking at what Postgres holds.
      await condition(allHandlersFinished);
      if (inbound.length === 0) await continueAsNew<typeof sellerLedgerWorkflow>({ sellerId: streamId, settings: input.settings, journal: LEDGER_FACTS_IN_POSTGRES });
      continue;
    }
    if (!woken && !publishDue()) {
      // Sleep until woken, or until publication is due again while Kafka is down.
      const wakeUp = () => woken || inbound.length > 0 || shouldContinueAsNew();
      if (view.unpublished) await condition(wakeUp, Math.max(publishNotBefore - Date.now(), 1));
      else await condition(wakeUp);
      continue;
    }
    // An idle ledger may linger for more facts (0 = not at all: a timer per batch costs more
    // than it saves when a seller sees few payments). A busy one commits at once: facts that
    // arrive while a batch commits form the next batch anyway.
    if (woken && !busy && batchMaxWaitMs > 0) await sleep(batchMaxWaitMs);
    const publish = Date.now() >= publishNotBefore;
    const maxItems = woken ? batchMaxItems : 0;
    woken = false;
    const result = await ledger.journalAndPublish({ streamId, maxItems, publish });
    if (result.entries > 0) {
      view.batchesCommitted += 1;
      view.factsCommitted += result.entries;
    }
    // More facts than one batch holds: go again at once.
    busy = result.moreFacts;
    if (busy) woken = true;
    view.unpublished = result.unpublished;
    if (!publish) continue;
    if (result.publishBusy) {
      // Another process is publishing this stream (the sweeper, a previous run's late activity).
      publishNotBefore = Date.now() + 1_000;
    } else if (result.publishError !== null) {
      view.publishFailures = (view.publishFailures ?? 0) + 1;
      view.lastPublishError = result.publishError;
      publishNotBefore = Date.now() + equalJitterDelayMs(Math.min(view.publishFailures, 20), publishBackoff, Math.random);
      view.nextPublishAttemptAt = new Date(publishNotBefore).toISOString();
    } else {
      view.publishFailures = 0;
      view.lastPublishError = null;
      view.nextPublishAttemptAt = null;
      publishNotBefore = 0;
    }
  }
}
