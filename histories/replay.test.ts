/**
 * Determinism gate: every committed history (real runs in the format of `temporal workflow show
 * --output json`, recorded by scripts/record-histories.ts) must replay against the current workflow
 * code. A change that would break running workflows fails here; such a change needs `patched()` or
 * a new workflow type. The histories cover every path of every version still able to be running:
 * the previous release's PaymentOrder (with and without `ledgerHold`) and ledger (including its
 * hand-over to the current ledger), and the current code's paths.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadHistoryFile, replayHistories } from '../temporal/replay';

const files = readdirSync(__dirname).filter((f) => f.endsWith('.json')).sort();

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this worker process
  }
});

test('the committed histories cover each workflow type and path', () => {
  expect(files).toEqual([
    // Releases before captures were bounded by time, and before facts lived in Postgres (an order
    // of the previous release whose attempts run out hands over to the current code: -run-2).
    'payment-order-capture-failed.json',
    'payment-order-capture-retries.json',
    'payment-order-captured.json',
    'payment-order-v1-exhausted-handover-run-2.json',
    'payment-order-v1-exhausted-handover.json',
    'payment-order-v1-ledger-hold-capture-failed.json',
    'payment-order-v1-ledger-hold-captured-after-retries.json',
    // The current PaymentOrder: captured; unknown -> lookup -> captured; unknown with the lookup
    // failing too -> retried with the same key; rejected -> void; retries until the window
    // closes -> void; long retries continuing as new (each resumed run too).
    'payment-order-v2-cancelled-voided.json',
    'payment-order-v2-captured.json',
    'payment-order-v2-rejected-voided.json',
    'payment-order-v2-retries-continued-as-new-run-2.json',
    'payment-order-v2-retries-continued-as-new-run-3.json',
    'payment-order-v2-retries-continued-as-new.json',
    'payment-order-v2-unknown-lookup-captured.json',
    'payment-order-v2-unknown-lookup-failing-retried-run-2.json',
    'payment-order-v2-unknown-lookup-failing-retried.json',
    'payment-order-v2-window-closed-voided-run-2.json',
    'payment-order-v2-window-closed-voided.json',
    // This release: the capture activity records a confirmed capture (no step after it); after
    // retries; an unknown outcome found captured by the lookup is recorded by the step; cancelled
    // while retrying; long retries continuing as new.
    'payment-order-v3-cancelled-voided.json',
    'payment-order-v3-captured-recorded-by-capture.json',
    'payment-order-v3-retries-captured.json',
    'payment-order-v3-retries-continued-as-new-run-2.json',
    'payment-order-v3-retries-continued-as-new-run-3.json',
    'payment-order-v3-retries-continued-as-new.json',
    'payment-order-v3-unknown-lookup-captured.json',
    // Money out: paid, failed at the rail, paid then returned, nothing available; a settlement import.
    'payout-failed.json',
    'payout-nothing-available.json',
    'payout-paid.json',
    'payout-returned.json',
    // Refunds: refunded; unknown -> lookup -> refunded; rejected -> failed.
    'refund-refunded.json',
    'refund-rejected-failed.json',
    'refund-unknown-lookup-refunded.json',
    'seller-ledger-continue-as-new.json',
    // The previous ledger's run taken over by the current code, and the run it handed over to.
    'seller-ledger-v1-handover-run-2.json',
    'seller-ledger-v1-handover.json',
    'seller-ledger-v2-facts-in-postgres-run-2.json',
    'seller-ledger-v2-facts-in-postgres.json',
    'settlement-imported.json',
  ]);
});

test('every committed history replays deterministically against the current code', async () => {
  const histories = files.map((f) => ({ workflowId: path.basename(f, '.json'), history: loadHistoryFile(path.join(__dirname, f)) }));
  const outcomes = await replayHistories(histories);
  expect(outcomes.map((o) => ({ id: o.workflowId, ok: o.ok, message: o.ok ? undefined : o.message }))).toEqual(histories.map((h) => ({ id: h.workflowId, ok: true, message: undefined })));
  // The histories are what they claim to be.
  const events = Object.fromEntries(outcomes.map((o) => [o.workflowId, o.events]));
  expect(events['seller-ledger-continue-as-new']).toBeGreaterThan(50);
  expect(events['payment-order-capture-retries']).toBeGreaterThan(events['payment-order-captured']!);
}, 120_000);
