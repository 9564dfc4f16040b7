/**
 * Reports a PaymentOrder's ledger fact to its seller's ledger workflow with signalWithStart: the
 * workflow is started if it is not running, and signalled either way, in one call. A retried
 * activity may deliver the same fact twice; the ledger deduplicates by deterministic entry id.
 */
import type { Client } from '@temporalio/client';
import {
  ledgerFactSignal,
  sellerLedgerWorkflowId,
  type LedgerFactPayload,
  type SellerLedgerSettings,
} from '../workflows/contracts';

export function createLedgerSignalActivities(deps: { client: Client; taskQueue: string; settings: SellerLedgerSettings }) {
  return {
    async reportLedgerFact(fact: LedgerFactPayload): Promise<void> {
      await deps.client.workflow.signalWithStart('sellerLedgerWorkflow', {
        workflowId: sellerLedgerWorkflowId(fact.sellerId),
        taskQueue: deps.taskQueue,
        args: [{ sellerId: fact.sellerId, settings: deps.settings }],
        signal: ledgerFactSignal,
        signalArgs: [fact],
      });
    },
  };
}
