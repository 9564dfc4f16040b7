/**
 * Replaying workflow histories against the current workflow code, for incident analysis and as
 * the determinism check of CI. A history comes from the server (by workflow id) or from a JSON
 * file exported by `temporal workflow show --output json` (or tctl).
 */
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';

export type History = temporal.api.history.v1.IHistory;

export type ReplayOutcome =
  | { ok: true; workflowId: string; workflowType: string; events: number }
  | { ok: false; workflowId: string; workflowType: string; events: number; deterministic: false; message: string }
  | { ok: false; workflowId: string; workflowType: string; events: number; deterministic: true; message: string };

export const WORKFLOWS_PATH = require.resolve('../workflows');

export function loadHistoryFile(file: string): History {
  return historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
}

export async function fetchHistory(client: Client, workflowId: string, runId?: string): Promise<History> {
  return client.workflow.getHandle(workflowId, runId).fetchHistory();
}

function describe(history: History): { workflowType: string; events: number } {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  return { workflowType: started?.workflowType?.name ?? 'unknown', events: history.events?.length ?? 0 };
}

/**
 * Replays each history; a nondeterminism error names the command that diverged (the SDK's message
 * says which event the history has and which command the code produced instead).
 */
export async function replayHistories(histories: Array<{ workflowId: string; history: History }>): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  const byId = new Map(histories.map((h) => [h.workflowId, h.history]));
  for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH, replayName: 'payorch-replay' }, histories)) {
    const info = describe(byId.get(result.workflowId) ?? {});
    if (!result.error) outcomes.push({ ok: true, workflowId: result.workflowId, ...info });
    else if (result.error instanceof DeterminismViolationError) outcomes.push({ ok: false, deterministic: false, workflowId: result.workflowId, ...info, message: result.error.message });
    else outcomes.push({ ok: false, deterministic: true, workflowId: result.workflowId, ...info, message: result.error.message });
  }
  return outcomes;
}
