/**
 * Fault runner (not a test): runs checkout load against the running stack while injecting one
 * fault at a time, waits for quiescence (bounded), and checks that nothing was lost or doubled:
 *  - every payment that got a 202 reached a final state;
 *  - our database and the PSP's own capture log agree on every order (captured at the PSP ⇔
 *    CAPTURED here, same capture id), and no PaymentOrder was captured twice;
 *  - no order ended CAPTURE_FAILED for a reason that was not a definitive refusal;
 *  - the refunds sent during the load (`--refund-share`, 20 %) are final, none refunded twice at
 *    the PSP, and REFUNDED here ⇔ refunded in the PSP's refund log;
 *  - ledger verify passes for those payments;
 *  - every touched seller's balance (API) equals the sum of its postings;
 *  - the DLQ received nothing;
 *  - faults with money paths of their own add them (payout-worker-kill: the payout rail's log).
 *
 *   scripts/stack up all && npm run -s faults -- [--only worker-kill,postgres-restart] [--rate 8] [--seconds 20]
 *     [--kafka-down-s 60] [--psp-outage-s 120] [--redis-readonly-s 30]
 *
 * Faults use scripts/stack (stop/start by pid) and SIGKILL on the pids it recorded; only local
 * processes on 127.0.0.1 are touched. Every wait is bounded.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { verifyLedger } from '../db/ledger-verification';
import { connectTemporalClient } from '../temporal/client';
import { sellerLedgerWorkflowId } from '../workflows/contracts';
import { benchBearer, checkoutBody, compareRefundsWithPsp, compareWithPsp, sellerBalance, settlement, startRefunder } from './api-client';
import { payoutKillRun } from './payout-faults';
import { setPspScenario } from './psp-scenario';

const ROOT = path.resolve(__dirname, '..');
const DATA_DIR = process.env.PAYORCH_DATA_DIR ?? path.join(ROOT, '.data');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stack = (...args: string[]) => execFileSync(path.join(ROOT, 'scripts/stack'), args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 }).toString();
const pidOf = (name: string) => Number(readFileSync(path.join(DATA_DIR, 'run', `${name}.pid`), 'utf8').trim());
/** Stops a component through the stack (by pid), waits, starts it again. */
const restart = async (name: string, pauseMs: number) => {
  stack('stop', name);
  await sleep(pauseMs);
  stack('start', name);
};
const kill9 = (name: string) => {
  try {
    process.kill(pidOf(name), 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // already gone
  }
};

/** A local port nothing listens on (bound, then released). */
const unusedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

type FaultContext = { config: ReturnType<typeof loadConfigOrExit>; kafkaDownS: number; pspOutageS: number; redisReadonlyS: number; sellers: string[] };
/** `sellers`: how many distinct sellers the load spreads over (1 = one hot seller). */
/** A fault may check money paths of its own (`inject` returns them): added to the row's columns. */
type ExtraChecks = { lost: number; doubled: number; ledgerOk: boolean; note: string };
type Fault = { name: string; sellers?: number; inject: (ctx: FaultContext) => Promise<void | ExtraChecks> };

const FAULTS: Fault[] = [
  {
    name: 'worker-kill',
    inject: async () => {
      for (let i = 0; i < 3; i++) {
        kill9('worker');
        await sleep(500);
        stack('start', 'worker');
        await sleep(3_000);
      }
    },
  },
  {
    name: 'api-kill',
    inject: async () => {
      kill9('api');
      await sleep(1_000);
      stack('start', 'api');
    },
  },
  {
    name: 'kafka-down',
    inject: ({ kafkaDownS }) => restart('kafka', kafkaDownS * 1_000),
  },
  {
    name: 'postgres-restart',
    inject: () => restart('postgres', 2_000),
  },
  {
    name: 'redis-flush-restart',
    inject: async ({ config }) => {
      const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
      await redis.flushall();
      redis.disconnect();
      await restart('redis', 2_000);
    },
  },
  {
    // A managed Redis failing over: the node the aggregator talks to turns replica (of an address
    // nobody answers) and answers READONLY to every write for --redis-readonly-s (30 s). The aggregator must block and
    // retry, never dead-letter; reads fall back to Postgres where needed.
    name: 'redis-readonly',
    inject: async ({ config, redisReadonlyS }) => {
      const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        await redis.call('REPLICAOF', '127.0.0.1', String(await unusedPort()));
        await sleep(redisReadonlyS * 1_000);
      } finally {
        await redis.call('REPLICAOF', 'NO', 'ONE');
        redis.disconnect();
      }
    },
  },
  {
    // Redis out of memory with no eviction for 10 s: every write answers OOM.
    name: 'redis-oom',
    inject: async ({ config }) => {
      const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
      const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
      const [, limit] = (await redis.config('GET', 'maxmemory')) as [string, string];
      try {
        await redis.config('SET', 'maxmemory-policy', 'noeviction');
        await redis.config('SET', 'maxmemory', '1');
        await sleep(10_000);
      } finally {
        await redis.config('SET', 'maxmemory', limit);
        await redis.config('SET', 'maxmemory-policy', policy);
        redis.disconnect();
      }
    },
  },
  {
    name: 'temporal-restart',
    inject: () => restart('temporal', 2_000),
  },
  {
    name: 'psp-degraded',
    inject: async ({ config }) => {
      await setPspScenario(config.PSP_BASE_URL, 'DEGRADED');
      await sleep(10_000);
      await setPspScenario(config.PSP_BASE_URL, 'BEST_PSP_EVER');
    },
  },
  {
    // The capture side of the PSP is down: half the calls hang (some after capturing), the rest
    // answer 503; authorizations still work, so sales keep arriving. No sale may be lost.
    name: 'psp-outage',
    inject: async ({ config, pspOutageS }) => {
      await setPspScenario(config.PSP_BASE_URL, 'CAPTURE_OUTAGE');
      await sleep(pspOutageS * 1_000);
      await setPspScenario(config.PSP_BASE_URL, 'BEST_PSP_EVER');
    },
  },
  {
    // An operator terminates the sellers' ledger workflows, repeatedly, while facts arrive.
    name: 'ledger-terminate',
    inject: async ({ config, sellers }) => {
      const client = await connectTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
      try {
        for (let round = 0; round < 3; round++) {
          await Promise.allSettled(sellers.map((s) => client.workflow.getHandle(sellerLedgerWorkflowId(s)).terminate('fault runner: ledger-terminate')));
          await sleep(2_000);
        }
      } finally {
        await client.connection.close();
      }
    },
  },
  {
    // One hot seller keeps selling while Kafka is down for minutes: entries must keep committing
    // and be published, in order, once Kafka is back.
    name: 'kafka-down-hot-seller',
    sellers: 1,
    inject: ({ kafkaDownS }) => restart('kafka', kafkaDownS * 1_000),
  },
  {
    // Payout runs of 10 sellers with settled money, the worker SIGKILLed once a third has paid
    // (bench/payout-faults.ts): compared with the payout rail's own log - 0 double payouts, every
    // seller paid exactly its available amount once. The PSP is restarted with a 5 s settlement lag
    // for the row (its state file keeps the logs) and with its usual settings after.
    name: 'payout-worker-kill',
    inject: async ({ config }) => {
      const r = await payoutKillRun({ config, sellers: 10, killAfterMs: 20_000, lagS: 5, restartPsp: true });
      return { lost: r.lost, doubled: r.doublePayouts, ledgerOk: r.ledgerVerify === 'ok', note: `payouts: ${r.railPayouts} on the rail, ${r.ourPayouts} ours, killed with ${r.killedWithPaid}/${r.sellers} paid` };
    },
  },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      rate: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '20' },
      'kafka-down-s': { type: 'string', default: '120' },
      'psp-outage-s': { type: 'string', default: '120' },
      'redis-readonly-s': { type: 'string', default: '30' },
      'settle-s': { type: 'string', default: '420' },
      'refund-share': { type: 'string', default: '0.2' },
    },
  });
  const refundShare = Number(values['refund-share']);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const kafkaDownS = Number(values['kafka-down-s']);
  const pspOutageS = Number(values['psp-outage-s']);
  const redisReadonlyS = Number(values['redis-readonly-s']);
  const settleS = Number(values['settle-s']);
  const only = values.only?.split(',');
  const faults = FAULTS.filter((f) => !only || only.includes(f.name));
  if (faults.length === 0 || !(rate >= 1 && rate <= 100) || !(seconds >= 5 && seconds <= 300) || !(refundShare >= 0 && refundShare <= 1)) {
    console.error(`faults: --only from ${FAULTS.map((f) => f.name).join(',')}; --rate 1..100; --seconds 5..300; --refund-share 0..1`);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  const bearer = await benchBearer(config, 'fault-runner', 'payments:write payments:read balances:read refunds:write');
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'fault-runner' });
  await setPspScenario(config.PSP_BASE_URL, 'BEST_PSP_EVER');
  const dlqCount = async () => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${config.AGGREGATOR_METRICS_PORT}/metrics`)).text();
      return [...text.matchAll(/^aggregator_dlq_messages_total\{[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
    } catch {
      return Number.NaN;
    }
  };

  const rows: Array<Record<string, string | number>> = [];
  for (const fault of faults) {
    const runId = randomUUID().slice(0, 8);
    const sellers = Array.from({ length: fault.sellers ?? 20 }, (_, i) => `fault-${fault.name}-${runId}-${i}`);
    const accepted: string[] = [];
    let refused = 0;
    const dlqBefore = await dlqCount();
    console.log(`== ${fault.name}: ${rate} checkouts/s for ${seconds} s (${Math.round(refundShare * 100)} % of them partly refunded once captured), fault injected after 3 s`);
    const refunder = startRefunder({ apiBaseUrl: config.API_BASE_URL, bearer, share: refundShare, accepted });
    const load = (async () => {
      const pending: Array<Promise<void>> = [];
      const start = Date.now();
      for (let i = 0; i < rate * seconds; i++) {
        const wait = start + (i * 1_000) / rate - Date.now();
        if (wait > 0) await sleep(wait);
        const orders = [...new Set([sellers[i % sellers.length]!, sellers[(i + 7) % sellers.length]!])].map((sellerId, j) => ({ sellerId, quantity: 100 + i + j }));
        const key = randomUUID();
        const payload = checkoutBody(orders, { buyerId: 'fault' });
        pending.push(
          (async () => {
            // A client that retries with the same key, as the contract asks, for a bounded time.
            for (let attempt = 0; attempt < 20; attempt++) {
              try {
                const res = await fetch(`${config.API_BASE_URL}/api/v1/payments`, { method: 'POST', headers: { authorization: bearer.authorization, 'content-type': 'application/json', 'idempotency-key': key }, body: payload, signal: AbortSignal.timeout(10_000) });
                const body = (await res.json()) as { paymentId?: string };
                if (res.status === 202 && body.paymentId) {
                  accepted.push(body.paymentId);
                  return;
                }
                if (res.status !== 409 && res.status !== 503) {
                  refused += 1;
                  return;
                }
              } catch {
                // connection refused or reset: the API is down; retry
              }
              await sleep(1_000);
            }
            refused += 1;
          })(),
        );
      }
      await Promise.all(pending);
    })();
    await sleep(3_000);
    const faultStart = Date.now();
    const extra = (await fault.inject({ config, kafkaDownS, pspOutageS, redisReadonlyS, sellers })) ?? undefined;
    if (extra) console.log(`   ${extra.note}`);
    const faultEnd = Date.now();
    await load;
    const ids = [...new Set(accepted)];
    const refundIds = await refunder.stop(120_000);

    // Quiescence: every accepted payment and refund final, every order's entries committed.
    let open = ids.length;
    const deadline = Date.now() + settleS * 1_000;
    while (Date.now() < deadline) {
      try {
        const state = await settlement(db, ids);
        const refundsOpen = (await compareRefundsWithPsp(db, config.PSP_BASE_URL, refundIds)).open;
        open = state.open + refundsOpen;
        if (open === 0 && state.missing === 0) break;
      } catch {
        // the database may still be coming back
      }
      await sleep(1_000);
    }
    const recoveredS = Math.round((Date.now() - faultEnd) / 100) / 10;

    const psp = await compareWithPsp(db, config.PSP_BASE_URL, ids);
    const pspRefunds = await compareRefundsWithPsp(db, config.PSP_BASE_URL, refundIds);
    for (const example of [...psp.examples, ...pspRefunds.examples]) console.log(`   ${example}`);
    const report = await verifyLedger(db, { graceMs: 0, paymentIds: ids });

    let balanceMismatches = 0;
    const balancesDeadline = Date.now() + 60_000; // for all sellers together
    for (const sellerId of sellers) {
      const expected = BigInt((await db.execute<{ s: string }>(sql`select coalesce(sum(case direction when 'CREDIT' then amount_minor else -amount_minor end), 0)::text as s from postings where account_code = ${`MERCHANT_PAYABLE.${sellerId}`}`)).rows[0]!.s);
      for (;;) {
        if ((await sellerBalance(config.API_BASE_URL, bearer.authorization, sellerId)) === expected) break;
        if (Date.now() > balancesDeadline) {
          balanceMismatches += 1;
          break;
        }
        await sleep(500);
      }
    }
    const dlqAfter = await dlqCount();
    const row = {
      fault: fault.name,
      'fault duration s': Math.round((faultEnd - faultStart) / 100) / 10,
      accepted: ids.length,
      'refused (no 202)': refused,
      refunds: `${pspRefunds.refunded}/${pspRefunds.refunds}`,
      lost: open + (extra?.lost ?? 0),
      doubled: psp.doubled + pspRefunds.doubled + (extra?.doubled ?? 0),
      'DB≠PSP': psp.disagreements + psp.captureIdMismatches + pspRefunds.disagreements,
      'failed (retryable)': psp.failedRetryable,
      'ledger verify': report.ok && (extra?.ledgerOk ?? true) ? 'ok' : 'FAILED',
      'balance mismatches': balanceMismatches,
      'DLQ +': Number.isNaN(dlqAfter - dlqBefore) ? '?' : dlqAfter - dlqBefore,
      'recovered after s': open === 0 ? recoveredS : `>${settleS}`,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await pool.end();

  const headers = Object.keys(rows[0]!);
  console.log(`\n| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${headers.map((h) => String(r[h])).join(' | ')} |`);
  const bad = rows.filter((r) => r.lost !== 0 || r.doubled !== 0 || r['DB≠PSP'] !== 0 || r['failed (retryable)'] !== 0 || r['ledger verify'] !== 'ok' || r['balance mismatches'] !== 0 || (r['DLQ +'] !== 0 && r['DLQ +'] !== '?'));
  if (bad.length > 0) {
    console.log(`\nFAILED: ${bad.map((r) => r.fault).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(`faults: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
