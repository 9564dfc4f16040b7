/**
 * Wakes a seller's ledger workflow with signalWithStart: the workflow is started if it is not
 * running, and signalled either way, in one call. The signal carries nothing the ledger needs -
 * the facts are in Postgres - so a duplicate or a lost wake-up costs nothing (the sweeper in the
 * worker wakes any stream whose facts wait too long).
 *
 * Wake-ups for one seller are coalesced in this process: while a signal to a seller's ledger is
 * on its way, every further wake-up for that seller waits for it to finish and then shares one
 * more signal. Each caller's facts are committed before it asks, so the signal that answers it
 * leaves after its commit - the guarantee a signal per caller gave - with one signal per round
 * trip for a hot seller instead of one per order.
 */
import type { Client } from '@temporalio/client';
import { LEDGER_FACTS_IN_POSTGRES, ledgerWakeSignal, sellerLedgerWorkflowId, type SellerLedgerSettings } from '../workflows/contracts';

type Waiter = { resolve: () => void; reject: (err: unknown) => void };

export function createLedgerSignalActivities(deps: { client: Client; taskQueue: string; settings: SellerLedgerSettings }) {
  const send = (sellerId: string) =>
    deps.client.workflow.signalWithStart('sellerLedgerWorkflow', {
      workflowId: sellerLedgerWorkflowId(sellerId),
      taskQueue: deps.taskQueue,
      args: [{ sellerId, settings: deps.settings, journal: LEDGER_FACTS_IN_POSTGRES }],
      signal: ledgerWakeSignal,
      signalArgs: [],
    });
  /** Callers waiting for a signal that has not left yet, per seller with a signal in flight. */
  const waiting = new Map<string, Waiter[]>();
  const stats = { requested: 0, sent: 0 };

  const drain = async (sellerId: string, queue: Waiter[]) => {
    while (queue.length > 0) {
      const batch = queue.splice(0);
      stats.sent += 1;
      try {
        await send(sellerId);
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    waiting.delete(sellerId);
  };

  return {
    async wakeLedger(sellerId: string): Promise<void> {
      stats.requested += 1;
      await new Promise<void>((resolve, reject) => {
        const queue = waiting.get(sellerId);
        if (queue) {
          queue.push({ resolve, reject });
          return;
        }
        const fresh: Waiter[] = [{ resolve, reject }];
        waiting.set(sellerId, fresh);
        void drain(sellerId, fresh);
      });
    },
    /** Wake-ups asked for and signals sent since start (for tests and the benchmark). */
    wakeStats: () => ({ ...stats }),
  };
}
