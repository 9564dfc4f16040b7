/**
 * The bare-Temporal ceiling worker, started by bench/e2e.ts as its own process (as our worker
 * is): the ceiling workflows on their own task queue, with our worker's slots and pollers.
 *
 *   CEILING_TASK_QUEUE=bench-ceiling-x node --import tsx bench/ceiling/worker.ts
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfigOrExit } from '../../config/config';
import { workerTuning } from '../../temporal/worker';
import { ceilingActivities } from './activities';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const taskQueue = process.env.CEILING_TASK_QUEUE;
  if (!taskQueue) throw new Error('CEILING_TASK_QUEUE is not set');
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    activities: ceilingActivities,
    ...workerTuning(config),
  });
  const running = worker.run();
  process.stdout.write('ceiling worker ready\n');
  await running;
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`ceiling worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
