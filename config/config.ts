/**
 * The one configuration module: every setting comes from the environment (optionally seeded from
 * the env file that `scripts/stack` writes), is validated once at start, and a bad value stops the
 * process with a message that names the variable.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PSP_SCENARIOS } from '../psp/scenarios';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');
const csv = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

/** The schema of every environment variable the application reads, with its default. */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  /** Address every HTTP server (API, probes, metrics, PSP simulator) listens on; 0.0.0.0 in containers. */
  BIND_HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DATABASE_URL: z.string().url().default('postgres://payorch:payorch@127.0.0.1:15432/payorch'),
  DATABASE_POOL_MAX: int(1, 200).default(20),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:16379'),
  KAFKA_BROKERS: csv.default(['127.0.0.1:19092']),
  KAFKA_CLIENT_ID: z.string().min(1).default('payorch'),
  LEDGER_TOPIC: z.string().min(1).default('ledger_entries_recorded_topic'),

  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('payments'),
  TEMPORAL_CLI_PATH: z.string().optional(),
  TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  WORKER_MAX_CONCURRENT_ACTIVITIES: int(1, 2000).default(200),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: int(2, 2000).default(100),
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: int(1, 2000).default(200),
  WORKER_WORKFLOW_TASK_POLLS: int(2, 200).default(40),
  WORKER_NON_STICKY_POLL_RATIO: z.coerce.number().min(0.1).max(1).default(0.5),
  WORKER_ACTIVITY_TASK_POLLS: int(1, 200).default(10),
  /** Threads that run workflow code. With one, a long replay (a hot seller's ledger after a failed task) stalls every workflow. */
  WORKER_WORKFLOW_THREADS: int(1, 16).default(2),
  WORKER_METRICS_PORT: int(0, 65535).default(9464),
  WORKER_SDK_METRICS_PORT: int(0, 65535).default(9466),
  WORKER_SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  /** A directory of workflow bundles prebuilt by scripts/bundle-workflows.ts (container images); unset = bundle at start. */
  WORKFLOW_BUNDLE_DIR: z.string().min(1).optional(),

  PSP_BASE_URL: z.string().url().default('http://127.0.0.1:14010'),
  PSP_PORT: int(0, 65535).default(14010),
  PSP_SCENARIO: z.enum(PSP_SCENARIOS).default('NORMAL'),
  PSP_TIMEOUT_MS: int(10, 120_000).default(2_000),
  PSP_STATE_FILE: z.string().optional(),
  PSP_TIMEOUT_HOLD_MS: int(0, 120_000).default(5_000),
  /** The simulator's authorization lifetime (a real PSP reports its own `expiresAt`). */
  PSP_AUTH_TTL_S: int(1, 90 * 24 * 3600).default(7 * 24 * 3600),
  /** Money out at the simulator (psp/money-out.ts): settlement lag, fee model, payout return delay. */
  PSP_SETTLEMENT_LAG_S: int(0, 30 * 86_400).default(86_400),
  PSP_SETTLEMENT_FEE_BPS: int(0, 10_000).default(140),
  PSP_SETTLEMENT_FEE_FIXED_MINOR: int(0, 1_000_000).default(25),
  PSP_PAYOUT_RETURN_DELAY_S: int(0, 30 * 86_400).default(86_400),

  API_PORT: int(0, 65535).default(3000),
  API_BASE_URL: z.string().url().default('http://127.0.0.1:3000'),
  API_BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024).default(64 * 1024),
  /** Proxy hops in front of the API whose X-Forwarded-For is trusted for the client IP (0: the socket's address). */
  API_TRUST_PROXY: int(0, 10).default(0),
  /** Browser origins allowed by CORS (comma-separated, e.g. https://shop.example); empty: no CORS headers at all. */
  API_CORS_ORIGINS: csv.pipe(z.array(z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, 'each origin must be scheme://host[:port]'))).default([]),
  IDEMPOTENCY_LEASE_MS: int(1_000, 3_600_000).default(30_000),
  /** An Idempotency-Key is kept this long after its first request; reused later it is a new request. */
  IDEMPOTENCY_KEY_RETENTION_S: int(60, 366 * 86_400).default(7 * 86_400),
  /** How often the Temporal Schedule purges expired keys, and how many rows one batch (one activity) deletes. */
  IDEMPOTENCY_PURGE_INTERVAL_S: int(60, 7 * 86_400).default(3_600),
  IDEMPOTENCY_PURGE_BATCH_SIZE: int(1, 10_000).default(1_000),
  /** Batches one purge run deletes at most; the next run continues (bounds the workflow's history). */
  IDEMPOTENCY_PURGE_BATCHES_MAX: int(1, 1_000).default(200),

  /**
   * Rate limits (rate-limiter-flexible, counted in Redis so every API replica shares them): a
   * fixed window of RATE_LIMIT_WINDOW_S seconds, separate budgets for writes and reads, each per
   * client (the token's azp, else sub) and per client IP.
   */
  RATE_LIMIT_WINDOW_S: int(1, 3_600).default(10),
  RATE_LIMIT_WRITES_PER_CLIENT: int(1, 10_000_000).default(1_000),
  RATE_LIMIT_WRITES_PER_IP: int(1, 10_000_000).default(2_000),
  RATE_LIMIT_READS_PER_CLIENT: int(1, 10_000_000).default(3_000),
  RATE_LIMIT_READS_PER_IP: int(1, 10_000_000).default(6_000),
  /** Redis unreachable: reads always pass; writes pass under an in-process limiter (open) or get 503 (closed). */
  RATE_LIMIT_WRITES_ON_REDIS_DOWN: z.enum(['open', 'closed']).default('open'),
  RATE_LIMIT_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('payorch:rl:'),
  /** A rate-limit lookup slower than this counts as Redis being down. */
  RATE_LIMIT_REDIS_TIMEOUT_MS: int(10, 10_000).default(250),
  OUTBOX_RELAY_INTERVAL_MS: int(50, 60_000).default(1_000),
  OUTBOX_RELAY_MIN_AGE_MS: int(0, 600_000).default(10_000),
  OUTBOX_RELAY_BATCH_MAX: int(1, 10_000).default(200),

  AUTH_MODE: z.enum(['dev', 'jwks']).default('dev'),
  AUTH_DEV_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTH_JWKS_URL: z.string().url().optional(),
  AUTH_ISSUER: z.string().min(1).default('payorch-dev'),
  AUTH_AUDIENCE: z.string().min(1).default('payorch-api'),
  /** Longest token lifetime accepted: exp - iat (exp - now when there is no iat). */
  AUTH_TOKEN_MAX_LIFETIME_S: int(60, 30 * 86_400).default(3_600),
  /** Clock skew allowed on exp, nbf and iat. */
  AUTH_CLOCK_TOLERANCE_S: int(0, 300).default(5),
  /** How long a fetched JWKS is trusted (a removed key is rejected after this); unknown kids refetch at most once per cooldown. */
  AUTH_JWKS_CACHE_MAX_AGE_S: int(1, 86_400).default(600),
  AUTH_JWKS_COOLDOWN_S: int(0, 3_600).default(30),

  CAPTURE_BACKOFF_BASE_MS: int(1, 3_600_000).default(1_000),
  CAPTURE_BACKOFF_CAP_MS: int(1, 86_400_000).default(15 * 60_000),
  /** Captures stop this long before the authorization expires; then the order's share is voided. */
  CAPTURE_AUTH_SAFETY_MARGIN_MS: int(0, 7 * 86_400_000).default(3_600_000),
  /** How long `POST …/cancel` waits for the orders' outcomes (voided or captured) before answering. */
  CANCEL_WAIT_MS: int(0, 30_000).default(5_000),
  /** How long a refund's retryable attempts go on before it may fail (a definitive PSP answer ends it sooner). */
  REFUND_RETRY_WINDOW_S: int(60, 30 * 86_400).default(3 * 86_400),
  /** Assumed validity of an authorization whose PSP did not report `expiresAt`. */
  AUTH_VALIDITY_DEFAULT_S: int(60, 90 * 24 * 3600).default(7 * 24 * 3600),

  PLATFORM_COMMISSION_BPS: int(0, 10_000).default(0),
  /**
   * Settlement (workflows/settlement.workflow.ts): how often the Schedule imports the PSP's report
   * (each run imports today and the days back to SETTLEMENT_LOOKBACK_DAYS), and how long a capture
   * may stay unsettled before it is a `captured-not-settled` mismatch.
   */
  SETTLEMENT_INTERVAL_S: int(5, 86_400).default(3_600),
  SETTLEMENT_LOOKBACK_DAYS: int(0, 30).default(2),
  RECON_UNSETTLED_AFTER_S: int(1, 60 * 86_400).default(3 * 86_400),
  /** The PSP's contracted fee per settled capture (floor(gross · bps / 10000) + fixed); another fee is a `fee-mismatch`. */
  RECON_FEE_BPS: int(0, 10_000).default(140),
  RECON_FEE_FIXED_MINOR: int(0, 1_000_000).default(25),
  /** Payouts (workflows/payout.workflow.ts): each seller's Schedule cadence, the minimum paid out, how long a return is watched for. */
  PAYOUT_INTERVAL_S: int(5, 30 * 86_400).default(86_400),
  PAYOUT_MIN_MINOR: int(1, 1_000_000_000).default(100),
  PAYOUT_RETURN_WATCH_S: int(0, 30 * 86_400).default(3 * 86_400),
  PAYOUT_RETURN_POLL_S: int(1, 86_400).default(3_600),
  /** The payout sweeper (temporal/payout-sweeper.ts): how often it runs, when a reserved payout counts as left by its run, how long after payment a return is still looked for, how often one payout is looked up again. */
  PAYOUT_SWEEP_INTERVAL_MS: int(100, 3_600_000).default(60_000),
  PAYOUT_STUCK_AFTER_S: int(1, 30 * 86_400).default(3_600),
  PAYOUT_RETURN_HORIZON_S: int(0, 400 * 86_400).default(60 * 86_400),
  PAYOUT_SWEEP_RECHECK_S: int(1, 7 * 86_400).default(3_600),
  /** At most 500: one batch is one Kafka message, which must stay under the broker's 1 MiB limit. */
  LEDGER_BATCH_MAX_ITEMS: int(1, 500).default(100),
  LEDGER_BATCH_MAX_WAIT_MS: int(0, 60_000).default(0),
  LEDGER_HISTORY_EVENTS_MAX: int(100, 50_000).default(10_000),
  LEDGER_PUBLISH_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** The sweeper wakes ledger workflows of streams whose facts or batches waited this long. */
  LEDGER_SWEEP_INTERVAL_MS: int(100, 600_000).default(5_000),
  LEDGER_SWEEP_MIN_AGE_MS: int(0, 3_600_000).default(10_000),
  /** The scheduled ledger verification: how often, and how long facts and orders may settle first. */
  LEDGER_VERIFY_INTERVAL_S: int(10, 86_400).default(300),
  LEDGER_VERIFY_GRACE_MS: int(0, 3_600_000).default(60_000),

  AGGREGATOR_METRICS_PORT: int(0, 65535).default(9465),
  AGGREGATOR_GROUP_ID: z.string().min(1).default('balance-aggregator'),
  AGGREGATOR_SNAPSHOT_INTERVAL_MS: int(100, 3_600_000).default(5_000),
  /** Backoff of a message blocked on an outage (Redis, Postgres, Kafka): retried until it succeeds. */
  AGGREGATOR_RETRY_BASE_MS: int(10, 60_000).default(200),
  AGGREGATOR_RETRY_CAP_MS: int(10, 600_000).default(10_000),
  /** How often stopped streams (a sequence gap) are retried: rebuilt from Postgres. */
  AGGREGATOR_HEAL_INTERVAL_MS: int(100, 600_000).default(2_000),
  BALANCE_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/).default('payorch:bal:'),

  /**
   * Merchant webhooks (docs/runbook-webhooks.md). The URL policy: `production` accepts only https
   * URLs whose addresses are public; `development` also accepts http on loopback. Unset: production
   * when NODE_ENV=production, else development (and production refuses development).
   */
  WEBHOOKS_ENABLED: bool.default(true),
  WEBHOOK_URL_POLICY: z.enum(['production', 'development']).optional(),
  WEBHOOK_TIMEOUT_MS: int(100, 30_000).default(5_000),
  WEBHOOK_BACKOFF_BASE_MS: int(10, 3_600_000).default(5_000),
  WEBHOOK_BACKOFF_CAP_MS: int(10, 86_400_000).default(3_600_000),
  /** A delivery is retried this long after its creation, then FAILED (resendable by hand). */
  WEBHOOK_RETRY_WINDOW_S: int(1, 30 * 86_400).default(3 * 86_400),
  /** An endpoint whose every attempt failed for this long is DISABLED with a reason. */
  WEBHOOK_DISABLE_AFTER_S: int(1, 30 * 86_400).default(3 * 86_400),
  /** After a rotation the previous secret also signs for this long. */
  WEBHOOK_SECRET_GRACE_S: int(0, 30 * 86_400).default(86_400),
  /** Deliveries one activity sends to one endpoint, and how many at once. */
  WEBHOOK_BATCH_MAX: int(1, 500).default(50),
  WEBHOOK_CONCURRENCY_PER_ENDPOINT: int(1, 64).default(8),
  /** The relay: how often it fans new events out to endpoints, and how many events per sweep. */
  WEBHOOK_RELAY_INTERVAL_MS: int(20, 60_000).default(500),
  WEBHOOK_RELAY_BATCH_MAX: int(1, 10_000).default(500),
  /** Endpoints with deliveries overdue this long get their workflow started again (it died or was terminated). */
  WEBHOOK_SWEEP_MIN_AGE_MS: int(0, 3_600_000).default(60_000),

  OTEL_TRACES_ENABLED: bool.default(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),

  FAULT_INJECT: z.enum(['none', 'crash-after-commit', 'crash-after-response']).default('none'),
});

export type Config = z.infer<typeof configSchema>;

/** Thrown when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates `env` and returns the typed configuration. Every problem is reported at once, each
 * line naming the variable, so an operator can fix a deployment in one pass.
 */
export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const variable = issue.path.join('.') || '(environment)';
      const received = env[variable];
      const shown = received === undefined ? '' : ` (got ${JSON.stringify(received.slice(0, 80))})`;
      return `  ${variable}: ${issue.message}${shown}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (config.AUTH_MODE === 'dev' && !config.AUTH_DEV_SECRET && config.NODE_ENV !== 'test') {
    // Without a secret no token could ever be verified; say so now instead of 401-ing everything.
    throw new ConfigError('invalid configuration:\n  AUTH_DEV_SECRET: required when AUTH_MODE=dev');
  }
  if (config.AUTH_MODE === 'jwks' && !config.AUTH_JWKS_URL) {
    throw new ConfigError('invalid configuration:\n  AUTH_JWKS_URL: required when AUTH_MODE=jwks');
  }
  if (config.NODE_ENV === 'production' && config.AUTH_MODE === 'dev') {
    throw new ConfigError('invalid configuration:\n  AUTH_MODE: must be jwks when NODE_ENV=production');
  }
  if (config.NODE_ENV === 'production' && config.FAULT_INJECT !== 'none') {
    // The crash hooks exist for the durability test only; a production process must never carry them.
    throw new ConfigError('invalid configuration:\n  FAULT_INJECT: must be none when NODE_ENV=production');
  }
  if (config.NODE_ENV === 'production' && config.WEBHOOK_URL_POLICY === 'development') {
    throw new ConfigError('invalid configuration:\n  WEBHOOK_URL_POLICY: must be production when NODE_ENV=production');
  }
  if (config.IDEMPOTENCY_KEY_RETENTION_S * 1_000 <= config.IDEMPOTENCY_LEASE_MS) {
    throw new ConfigError('invalid configuration:\n  IDEMPOTENCY_KEY_RETENTION_S: must be longer than IDEMPOTENCY_LEASE_MS');
  }
  if (config.CAPTURE_BACKOFF_CAP_MS < config.CAPTURE_BACKOFF_BASE_MS) {
    throw new ConfigError('invalid configuration:\n  CAPTURE_BACKOFF_CAP_MS: must be >= CAPTURE_BACKOFF_BASE_MS');
  }
  if (config.AGGREGATOR_RETRY_CAP_MS < config.AGGREGATOR_RETRY_BASE_MS) {
    throw new ConfigError('invalid configuration:\n  AGGREGATOR_RETRY_CAP_MS: must be >= AGGREGATOR_RETRY_BASE_MS');
  }
  return config;
}

/** The env file written by `scripts/stack`; `PAYORCH_ENV_FILE` points elsewhere. */
export function envFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PAYORCH_ENV_FILE ?? path.resolve(__dirname, '..', env.PAYORCH_DATA_DIR ?? '.data', 'stack.env');
}

let cached: Config | undefined;

/**
 * Loads the configuration for this process once. Variables already in the environment win over
 * the env file, which only fills gaps.
 */
export function loadConfig(): Config {
  if (cached) return cached;
  const file = envFilePath();
  if (existsSync(file)) process.loadEnvFile(file);
  cached = parseConfig(process.env);
  return cached;
}

/**
 * For entry points: load the configuration or exit with the one clear message.
 */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

/** The webhook URL policy in force: explicit, else derived from NODE_ENV. */
export const webhookUrlPolicyOf = (config: Pick<Config, 'NODE_ENV' | 'WEBHOOK_URL_POLICY'>): 'production' | 'development' =>
  config.WEBHOOK_URL_POLICY ?? (config.NODE_ENV === 'production' ? 'production' : 'development');
