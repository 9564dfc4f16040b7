/**
 * Wake-up coalescing against the stack's Temporal server: the seller ledger workflow is started
 * on a task queue no worker polls, so its history shows exactly the signals that were sent.
 */
import { temporal } from '@temporalio/proto';
import { connectTemporalClient } from '../temporal/client';
import { ledgerSettingsFromConfig } from '../temporal/worker';
import { sellerLedgerWorkflowId } from '../workflows/contracts';
import { testConfig, uniqueId } from '../test/support';
import { createLedgerSignalActivities } from './ledger-signal.activities';

const SIGNALED = temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED;

test('concurrent wake-ups for one seller share signals; each caller is answered by a signal sent after it asked', async () => {
  const config = testConfig();
  const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const taskQueue = uniqueId('no-worker');
  const sellerId = uniqueId('wake-seller');
  const other = uniqueId('wake-other');
  const wakes = createLedgerSignalActivities({ client, taskQueue, settings: ledgerSettingsFromConfig(config) });
  try {
    // One wake-up first, then 30 more while it is on its way, and one for another seller.
    const first = wakes.wakeLedger(sellerId);
    const rest = Array.from({ length: 30 }, () => wakes.wakeLedger(sellerId));
    await Promise.all([first, ...rest, wakes.wakeLedger(other)]);
    const stats = wakes.wakeStats();
    expect(stats.requested).toBe(32);
    // The first signal, one shared by the 30 that asked while it was in flight, one for the other seller.
    expect(stats.sent).toBe(3);
    const signals = async (id: string) => ((await client.workflow.getHandle(sellerLedgerWorkflowId(id)).fetchHistory()).events ?? []).filter((e) => e.eventType === SIGNALED).length;
    expect(await signals(sellerId)).toBe(2);
    expect(await signals(other)).toBe(1);

    // Asked after the previous signals finished: a signal of its own.
    await wakes.wakeLedger(sellerId);
    expect(await signals(sellerId)).toBe(3);
  } finally {
    for (const id of [sellerId, other]) await client.workflow.getHandle(sellerLedgerWorkflowId(id)).terminate('test over').catch(() => undefined);
    await client.connection.close();
  }
});
