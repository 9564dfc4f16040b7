/**
 * Re-applies the balance aggregator's dead letters that are now valid (aggregator/redrive.ts):
 * duplicates are dropped, the next sequence of a stream is applied, a gap rebuilds the stream from
 * Postgres. Prints one line per message and a summary; exit 0 when the DLQ was read to its end
 * (or to --limit), 1 when an outage or a timeout stopped it, 2 on bad arguments.
 *
 *   npm run -s dlq:redrive -- [--dry-run] [--limit N] [--timeout-s 300]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createApplier } from '../aggregator/applier';
import { createBalanceStore } from '../aggregator/balance-store';
import { redriveDlq, REDRIVE_OUTCOMES } from '../aggregator/redrive';
import { loadConfigOrExit } from '../config/config';
import { createDb } from '../db/client';
import { createKafka } from '../kafka/client';
import { dlqTopicOf } from '../kafka/topics';
import { createLogger } from '../observability/logger';

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({ options: { 'dry-run': { type: 'boolean', default: false }, limit: { type: 'string', default: '100000' }, 'timeout-s': { type: 'string', default: '300' } } }));
  } catch (err) {
    process.stderr.write(`dlq-redrive: ${(err as Error).message}\nusage: npm run -s dlq:redrive -- [--dry-run] [--limit N] [--timeout-s S]\n`);
    process.exit(2);
  }
  const limit = Number(values.limit);
  const timeoutS = Number(values['timeout-s']);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000_000 || !Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 86_400) {
    process.stderr.write('dlq-redrive: --limit must be a whole number in 1..10000000 and --timeout-s in 1..86400\n');
    process.exit(2);
  }
  const dryRun = values['dry-run'];
  const config = loadConfigOrExit();
  const log = createLogger({ name: 'dlq-redrive', level: 'warn' });
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'dlq-redrive' });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, connectTimeout: 2_000 });
  redis.on('error', () => undefined); // failures reach the caller of each command, and are retried
  const store = createBalanceStore({ redis, db, keyPrefix: config.BALANCE_REDIS_PREFIX });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-dlq-redrive` });
  console.log(`${dryRun ? 'dry run: ' : ''}re-driving ${dlqTopicOf(config.LEDGER_TOPIC)} (at most ${limit} messages)`);
  try {
    const summary = await redriveDlq(
      { kafka, applier: createApplier({ store, log }), store },
      { topic: config.LEDGER_TOPIC, dryRun, limit, timeoutMs: timeoutS * 1_000, retryBaseMs: config.AGGREGATOR_RETRY_BASE_MS, retryCapMs: config.AGGREGATOR_RETRY_CAP_MS, groupPrefix: config.AGGREGATOR_GROUP_ID },
      (item) => {
        const what = item.sequence === null ? '' : ` seq ${item.sequence}`;
        console.log(`  partition ${item.partition} offset ${item.offset}: stream ${JSON.stringify(item.streamId)}${what} -> ${item.outcome}${item.detail ? ` (${item.detail})` : ''}`);
      },
    );
    const parts = REDRIVE_OUTCOMES.filter((o) => summary.counts[o] > 0).map((o) => `${summary.counts[o]} ${o}`);
    console.log(`${dryRun ? 'dry run: ' : ''}read ${summary.read} message(s)${parts.length ? `: ${parts.join(', ')}` : ''}${summary.complete ? '' : ' (stopped at --limit)'}`);
    if (summary.counts['still-invalid'] > 0) console.log(`${summary.counts['still-invalid']} message(s) are still invalid and stay in the DLQ (see docs/runbook.md)`);
  } catch (err) {
    process.stderr.write(`dlq-redrive: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await pool.end().catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`dlq-redrive: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
