/**
 * Replays workflow histories against the current workflow code and says whether the code is
 * deterministic for them - and if not, which command diverged.
 *
 *   npm run -s replay -- --workflow-id payment-order:<id> [--run-id <runId>]
 *   npm run -s replay -- --file history.json [--file other.json ...]
 *   npm run -s replay -- --dir histories
 *
 * Exits 0 when every history replays, 1 on nondeterminism or any other replay failure.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadConfigOrExit } from '../config/config';
import { connectTemporalClient } from '../temporal/client';
import { fetchHistory, loadHistoryFile, replayHistories, type History } from '../temporal/replay';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'workflow-id': { type: 'string' }, 'run-id': { type: 'string' }, file: { type: 'string', multiple: true }, dir: { type: 'string' } } });
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
  const histories: Array<{ workflowId: string; history: History }> = [];
  if (values['workflow-id']) {
    const config = loadConfigOrExit();
    const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
    histories.push({ workflowId: values['workflow-id'], history: await fetchHistory(client, values['workflow-id'], values['run-id']) });
    await client.connection.close();
  }
  const files = [...(values.file ?? []), ...(values.dir ? readdirSync(values.dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(values.dir!, f)) : [])];
  for (const file of files) histories.push({ workflowId: path.basename(file, '.json'), history: loadHistoryFile(file) });
  if (histories.length === 0) {
    console.error('replay: give --workflow-id, --file or --dir');
    process.exit(2);
  }
  let failed = 0;
  for (const outcome of await replayHistories(histories)) {
    if (outcome.ok) {
      console.log(`ok    ${outcome.workflowId} (${outcome.workflowType}, ${outcome.events} events): deterministic with the current code`);
    } else {
      failed += 1;
      console.log(`FAIL  ${outcome.workflowId} (${outcome.workflowType}, ${outcome.events} events): ${outcome.deterministic ? 'replay failed' : 'NOT deterministic'}`);
      console.log(`      ${outcome.message.split('\n').join('\n      ')}`);
    }
  }
  console.log(failed === 0 ? `replay: ${histories.length} histories, all deterministic` : `replay: ${failed} of ${histories.length} histories failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`replay: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});
