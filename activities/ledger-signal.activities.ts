/**
 * Reports a PaymentOrder's ledger facts to its seller's ledger workflow with signalWithStart: the
 * workflow is started if it is not running, and signalled either way, in one call. A retried
 * activity may deliver the same fact twice; the ledger deduplicates by deterministic entry id.
 */
import type { Client } from '@temporalio/client';
import {
  ledgerFactsSignal,
  sellerLedgerWorkflowId,
  type LedgerFactPayload,
  type SellerLedgerSettings,
} from '../workflows/contracts';

export function createLedgerSignalActivities(deps: { client: Client; taskQueue: string; settings: SellerLedgerSettings }) {
  return {
    /** Facts of one seller, delivered in one signal (one request, one ledger workflow task). */
    async reportLedgerFacts(facts: LedgerFactPayload[]): Promise<void> {
      const sellerId = facts[0]?.sellerId;
      if (sellerId === undefined) return;
      if (facts.some((f) => f.sellerId !== sellerId)) throw new Error('reportLedgerFacts: facts of one seller only');
      await deps.client.workflow.signalWithStart('sellerLedgerWorkflow', {
        workflowId: sellerLedgerWorkflowId(sellerId),
        taskQueue: deps.taskQueue,
        args: [{ sellerId, settings: deps.settings }],
        signal: ledgerFactsSignal,
        signalArgs: [facts],
      });
    },
  };
}
