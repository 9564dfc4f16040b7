/**
 * Wakes a seller's ledger workflow: a signal to the running ledger, or - if none is running - a
 * start, in which the new run looks at what Postgres holds first. The signal carries nothing the
 * ledger needs - the facts are in Postgres - so a duplicate or a lost wake-up costs nothing (the
 * sweeper in the worker wakes any stream whose facts wait too long).
 *
 * Signal first, start only when the workflow is not found: a running ledger (the usual case)
 * costs one signal, as signalWithStart did, and a ledger that is not running costs one start
 * instead of signalWithStart's start and signal (one Temporal action fewer for a seller's first
 * payment, docs/performance.md). If another process starts it between our signal and our start,
 * we signal that run: it may have looked at Postgres before our facts were committed.
 *
 * Wake-ups for one seller are coalesced in this process: while a wake-up for a seller's ledger is
 * on its way, every further wake-up for that seller waits for it to finish and then shares one
 * more. Each caller's facts are committed before it asks, so the wake-up that answers it leaves
 * after its commit - the guarantee a signal per caller gave - with one signal per round trip for a
 * hot seller instead of one per order.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { LEDGER_FACTS_IN_POSTGRES, ledgerWakeSignal, sellerLedgerWorkflowId, type SellerLedgerSettings } from '../workflows/contracts';

type Waiter = { resolve: () => void; reject: (err: unknown) => void };

export function createLedgerSignalActivities(deps: { client: Client; taskQueue: string; settings: SellerLedgerSettings }) {
  const stats = { requested: 0, sent: 0, started: 0 };
  const send = async (sellerId: string): Promise<void> => {
    const workflowId = sellerLedgerWorkflowId(sellerId);
    const signal = () => deps.client.workflow.getHandle(workflowId).signal(ledgerWakeSignal);
    try {
      await signal();
      return;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    try {
      await deps.client.workflow.start('sellerLedgerWorkflow', { workflowId, taskQueue: deps.taskQueue, args: [{ sellerId, settings: deps.settings, journal: LEDGER_FACTS_IN_POSTGRES }] });
      stats.started += 1;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await signal();
    }
  };
  /** Callers waiting for a signal that has not left yet, per seller with a signal in flight. */
  const waiting = new Map<string, Waiter[]>();

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
    /** Wake-ups asked for, sent (signals or starts) and of them starts, since start (for tests and the benchmark). */
    wakeStats: () => ({ ...stats }),
  };
}
