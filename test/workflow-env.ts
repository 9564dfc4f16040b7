/**
 * A Temporal dev server of our own (the installed CLI binary, via @temporalio/testing) with the
 * project's search attributes, and a worker on it running the real workflows and activities
 * against a database of its own (on the stack's Postgres, dropped at teardown), the test run's
 * Kafka topic and PSP simulator. The database is its own because the test run's worker process
 * sweeps its database for ledger streams with waiting work and would wake ledgers of this
 * harness's streams on the other Temporal server.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createLedgerActivities } from '../activities/ledger.activities';
import { createLedgerSignalActivities } from '../activities/ledger-signal.activities';
import { createPaymentOrderActivities } from '../activities/payment-order.activities';
import { createPspActivities } from '../activities/psp.activities';
import { createRefundActivities } from '../activities/refund.activities';
import { createDb, type DbHandle } from '../db/client';
import { createKafka, createLazyProducer, type LazyProducer } from '../kafka/client';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { ALL_SEARCH_ATTRIBUTES, type SellerLedgerSettings } from '../workflows/contracts';
import { createMigratedDatabase, dropDatabase } from './databases';
import { stackEnv, testConfig, testEnv, uniqueId } from './support';

export type WorkflowHarness = {
  env: TestWorkflowEnvironment;
  dbHandle: DbHandle;
  producer: LazyProducer;
  taskQueue: string;
  ledgerSettings: SellerLedgerSettings;
  /** Creates a worker; `wrap` may replace activities (e.g. to inject a fault after a real call). */
  createWorker: (
    wrap?: (activities: Record<string, (...args: any[]) => Promise<unknown>>) => Record<string, (...args: any[]) => Promise<unknown>>,
    options?: { workflowsPath?: string },
  ) => Promise<Worker>;
  teardown: () => Promise<void>;
};

export type WorkflowHarnessOptions = {
  /**
   * Temporal suggests continue-as-new once a run's history reaches this many events (its default
   * is 4Ki). The dev server takes it as a flag; the stack's temporal-server (server mode) has it in
   * its dynamic config for one namespace only (scripts/stack: TEMPORAL_SHORT_HISTORY_NAMESPACE,
   * TEMPORAL_SHORT_HISTORY_EVENTS), which the harness then uses.
   */
  suggestContinueAsNewAt?: number;
  ledgerSettings?: Partial<SellerLedgerSettings>;
};

export async function createWorkflowHarness(options: WorkflowHarnessOptions = {}): Promise<WorkflowHarness> {
  const config = testConfig();
  const stack = stackEnv();
  let env: TestWorkflowEnvironment;
  if (stack.PAYORCH_TEMPORAL === 'server') {
    // PAYORCH_TEMPORAL=server (scripts/stack): the stack's production-configured temporal-server
    // (PostgreSQL persistence, SQL visibility; namespaces and search attributes from scripts/stack).
    let namespace = stack.TEMPORAL_NAMESPACE;
    if (options.suggestContinueAsNewAt !== undefined) {
      if (String(options.suggestContinueAsNewAt) !== stack.TEMPORAL_SHORT_HISTORY_EVENTS || !stack.TEMPORAL_SHORT_HISTORY_NAMESPACE) {
        throw new Error(`server mode suggests continue-as-new early only at ${stack.TEMPORAL_SHORT_HISTORY_EVENTS ?? '(unset)'} events (scripts/stack), not ${options.suggestContinueAsNewAt}`);
      }
      namespace = stack.TEMPORAL_SHORT_HISTORY_NAMESPACE;
    }
    env = await TestWorkflowEnvironment.createFromExistingServer({ address: stack.TEMPORAL_ADDRESS!, namespace });
  } else {
    const dynamicConfig = options.suggestContinueAsNewAt === undefined ? [] : ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${options.suggestContinueAsNewAt}`];
    env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: stack.TEMPORAL_CLI_PATH! },
        ip: '127.0.0.1',
        searchAttributes: ALL_SEARCH_ATTRIBUTES,
        extraArgs: ['--log-level', 'error', ...dynamicConfig],
      },
    });
  }
  const database = `payorch_${testEnv().runId}_${uniqueId('wf').replace(/-/g, '_')}`.toLowerCase();
  const databaseUrl = await createMigratedDatabase(stackEnv().DATABASE_URL!, database);
  const dbHandle = createDb({ url: databaseUrl, poolMax: 5, applicationName: 'workflow-test' });
  const producer = createLazyProducer(createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'workflow-test' }));
  const taskQueue = uniqueId('wf-test');
  const ledgerSettings: SellerLedgerSettings = { batchMaxItems: 10, batchMaxWaitMs: 50, historyEventsMax: 10_000, ...options.ledgerSettings };
  const workers: Worker[] = [];
  return {
    env,
    dbHandle,
    producer,
    taskQueue,
    ledgerSettings,
    async createWorker(wrap, options) {
      const ledgerSignal = createLedgerSignalActivities({ client: env.client, taskQueue, settings: ledgerSettings });
      const orderSteps = createPaymentOrderActivities({ db: dbHandle.db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) });
      const activities = {
        ...createPspActivities({ psp: createHttpPsp({ baseUrl: testEnv().pspBaseUrl, timeoutMs: 2_000 }), db: dbHandle.db, recordCapture: (step) => orderSteps.advancePaymentOrder(step) }),
        ...orderSteps,
        ...createLedgerActivities({ db: dbHandle.db, producer, topic: config.LEDGER_TOPIC }),
        ...createRefundActivities({ db: dbHandle.db, wakeLedger: (sellerId) => ledgerSignal.wakeLedger(sellerId) }),
      };
      const worker = await Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace ?? 'default',
        taskQueue,
        workflowsPath: options?.workflowsPath ?? require.resolve('../workflows'),
        activities: wrap ? wrap(activities) : activities,
      });
      workers.push(worker);
      return worker;
    },
    async teardown() {
      await producer.disconnect();
      await dbHandle.pool.end();
      await env.teardown();
      await dropDatabase(stackEnv().DATABASE_URL!, database);
    },
  };
}
