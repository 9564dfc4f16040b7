/**
 * Determinism gate: every committed history (real runs exported with `temporal workflow show
 * --output json`) must replay against the current workflow code. A change that would break
 * running workflows fails here; such a change needs `patched()` or a new workflow type.
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
  expect(files).toEqual(['payment-order-capture-failed.json', 'payment-order-capture-retries.json', 'payment-order-captured.json', 'seller-ledger-continue-as-new.json']);
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
