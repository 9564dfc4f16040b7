/**
 * Wakes a seller's ledger workflow with signalWithStart: the workflow is started if it is not
 * running, and signalled either way, in one call. The signal carries nothing the ledger needs -
 * the facts are in Postgres - so a duplicate or a lost wake-up costs nothing (the sweeper in the
 * worker wakes any stream whose facts wait too long).
 */
import type { Client } from '@temporalio/client';
import { ledgerWakeSignal, sellerLedgerWorkflowId, type SellerLedgerSettings } from '../workflows/contracts';

export function createLedgerSignalActivities(deps: { client: Client; taskQueue: string; settings: SellerLedgerSettings }) {
  return {
    async wakeLedger(sellerId: string): Promise<void> {
      await deps.client.workflow.signalWithStart('sellerLedgerWorkflow', {
        workflowId: sellerLedgerWorkflowId(sellerId),
        taskQueue: deps.taskQueue,
        args: [{ sellerId, settings: deps.settings }],
        signal: ledgerWakeSignal,
        signalArgs: [],
      });
    },
  };
}
