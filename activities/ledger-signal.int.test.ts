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

test('concurrent wake-ups for one seller share signals; each caller is answered by a wake-up sent after it asked; a ledger not running is started, not signalled', async () => {
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
    // The first wake-up (a start: no ledger was running), one shared by the 30 that asked while it
    // was in flight (a signal), one for the other seller (a start).
    expect(stats).toEqual({ requested: 32, sent: 3, started: 2 });
    const events = async (id: string) => (await client.workflow.getHandle(sellerLedgerWorkflowId(id)).fetchHistory()).events ?? [];
    const signals = async (id: string) => (await events(id)).filter((e) => e.eventType === SIGNALED).length;
    expect(await signals(sellerId)).toBe(1);
    expect(await signals(other)).toBe(0);

    // Asked after the previous wake-ups finished: a signal of its own.
    await wakes.wakeLedger(sellerId);
    expect(await signals(sellerId)).toBe(2);

    // A ledger that is no longer running (terminated here) is started again, without a signal.
    await client.workflow.getHandle(sellerLedgerWorkflowId(other)).terminate('test: gone');
    await wakes.wakeLedger(other);
    expect(wakes.wakeStats().started).toBe(3);
    expect((await client.workflow.getHandle(sellerLedgerWorkflowId(other)).describe()).status.name).toBe('RUNNING');
    expect(await signals(other)).toBe(0);
  } finally {
    for (const id of [sellerId, other]) await client.workflow.getHandle(sellerLedgerWorkflowId(id)).terminate('test over').catch(() => undefined);
    await client.connection.close();
  }
});
