/**
 * Idempotency-Key retention: the run's worker created the purge Schedule at start
 * (temporal/schedules.ts); triggered, its workflow deletes every expired key in bounded batches and
 * nothing else. `ensureSchedules` is idempotent and brings an existing Schedule up to date.
 */
import type { Client as TemporalClient } from '@temporalio/client';
import { Client } from 'pg';
import { connectTemporalClient } from '../temporal/client';
import { ensureSchedules, IDEMPOTENCY_KEYS_PURGE, scheduleId } from '../temporal/schedules';
import { idempotencyKeysPurgeWorkflow, type IdempotencyKeysPurgeResult } from '../workflows/idempotency-keys-purge.workflow';
import { testConfig, uniqueId, waitFor } from './support';

describe('Idempotency-Key purge by a Temporal Schedule', () => {
  const config = testConfig();
  const id = scheduleId(IDEMPOTENCY_KEYS_PURGE, config.TEMPORAL_TASK_QUEUE);
  let temporal: TemporalClient;
  let pg: Client;

  beforeAll(async () => {
    temporal = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
    pg = new Client({ connectionString: config.DATABASE_URL });
    await pg.connect();
  });
  afterAll(async () => {
    await pg.end();
    await temporal.connection.close();
  });

  /** Inserts `count` keys `{label}-{n}` for `principal`, first requested `ageSql` ago. */
  const insertKeys = async (principal: string, label: string, count: number, ageSql: string, state: 'completed' | 'in-flight-leased' | 'in-flight-abandoned') => {
    const status = state === 'completed' ? 'COMPLETED' : 'IN_FLIGHT';
    const lockedUntil = state === 'in-flight-leased' ? `now() + interval '1 minute'` : `now() - interval '1 minute'`;
    await pg.query(
      `insert into idempotency_keys (principal, key, request_hash, status, payment_id, response_status, response_body, locked_until, created_at)
       select $1, $2 || g, 'hash', $3, gen_random_uuid(), case when $3 = 'COMPLETED' then 202 end, case when $3 = 'COMPLETED' then '{}'::jsonb end, ${lockedUntil}, now() - interval '${ageSql}'
         from generate_series(1, $4) g`,
      [principal, `${label}-`, status, count],
    );
  };
  const keysOf = async (principal: string) =>
    (await pg.query<{ key: string }>('select key from idempotency_keys where principal = $1 order by key', [principal])).rows.map((r) => r.key);

  test('the worker created the Schedule from the configuration', async () => {
    const description = await temporal.schedule.getHandle(id).describe();
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'idempotencyKeysPurgeWorkflow', taskQueue: config.TEMPORAL_TASK_QUEUE, args: [{ retentionS: 7 * 86_400, batchSize: 50, batchesMax: 10 }] });
    expect(description.spec.intervals).toEqual([expect.objectContaining({ every: 3_600_000 })]);
    expect(description.policies.overlap).toBe('SKIP');
  });

  test('a scheduled run deletes every expired key in batches and keeps the rest', async () => {
    const principal = uniqueId('purge');
    await insertKeys(principal, 'expired', 120, '8 days', 'completed');
    await insertKeys(principal, 'abandoned', 2, '8 days', 'in-flight-abandoned');
    await insertKeys(principal, 'leased', 3, '8 days', 'in-flight-leased'); // still running: never purged
    await insertKeys(principal, 'recent', 5, '6 days', 'completed'); // within retention
    const handle = temporal.schedule.getHandle(id);
    const before = (await handle.describe()).info.recentActions.length;
    await handle.trigger();
    const action = await waitFor('the triggered run', async () => {
      const recent = (await handle.describe()).info.recentActions;
      return recent.length > before ? recent[recent.length - 1] : undefined;
    }, 20_000, 200);
    const result = (await temporal.workflow.getHandle(action.action.workflow.workflowId, action.action.workflow.firstExecutionRunId).result()) as IdempotencyKeysPurgeResult;
    // 122 of ours (other tests may leave expired keys too): at least three batches of 50, the last short.
    expect(result.complete).toBe(true);
    expect(result.deleted).toBeGreaterThanOrEqual(122);
    expect(result.batches).toBe(Math.floor(result.deleted / 50) + 1);
    const left = await keysOf(principal);
    expect(left.filter((k) => k.startsWith('recent-'))).toHaveLength(5);
    expect(left.filter((k) => k.startsWith('leased-'))).toHaveLength(3);
    expect(left).toHaveLength(8);
  }, 60_000);

  test('one run deletes at most batchesMax batches; the next run continues', async () => {
    const principal = uniqueId('purge-bounded');
    // Older than anything other tests leave, so the oldest-first batches take these first.
    await insertKeys(principal, 'expired', 25, '400 days', 'completed');
    const run = (workflowId: string) =>
      temporal.workflow.execute(idempotencyKeysPurgeWorkflow, { taskQueue: config.TEMPORAL_TASK_QUEUE, workflowId, args: [{ retentionS: 7 * 86_400, batchSize: 10, batchesMax: 2 }], workflowRunTimeout: '1 minute' });
    const first = await run(uniqueId('purge-bounded'));
    expect(first).toEqual({ deleted: 20, batches: 2, complete: false });
    expect(await keysOf(principal)).toHaveLength(5);
    const second = await run(uniqueId('purge-bounded'));
    expect(second).toMatchObject({ complete: true });
    expect(await keysOf(principal)).toHaveLength(0);
  }, 60_000);

  test('ensureSchedules is idempotent, updates an existing Schedule and keeps it paused', async () => {
    const handle = temporal.schedule.getHandle(id);
    // An update reaches the Schedule as a signal to its scheduler workflow: describe() may lag.
    const described = (what: string, ok: (d: Awaited<ReturnType<typeof handle.describe>>) => boolean) =>
      waitFor(what, async () => {
        const d = await handle.describe();
        return ok(d) ? d : undefined;
      }, 10_000, 100);
    try {
      await handle.pause('paused by the test');
      await described('paused', (d) => d.state.paused);
      expect(await ensureSchedules(temporal, testConfig({ IDEMPOTENCY_PURGE_INTERVAL_S: '7200', IDEMPOTENCY_KEY_RETENTION_S: '86400' }))).toContain(id);
      const updated = await described('the new interval', (d) => d.spec.intervals?.[0]?.every === 7_200_000);
      expect(updated.action).toMatchObject({ args: [{ retentionS: 86_400, batchSize: 50, batchesMax: 10 }] });
      expect(updated.state.paused).toBe(true);
    } finally {
      await ensureSchedules(temporal, config);
      await handle.unpause();
    }
    const restored = await described('the original interval, unpaused', (d) => d.spec.intervals?.[0]?.every === 3_600_000 && !d.state.paused);
    expect(restored.action).toMatchObject({ args: [{ retentionS: 7 * 86_400, batchSize: 50, batchesMax: 10 }] });
  });
});
