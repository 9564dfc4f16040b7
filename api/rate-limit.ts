/**
 * Rate limits with rate-limiter-flexible, counted in Redis so that every API replica draws from
 * the same budgets. Four budgets, each a fixed window of RATE_LIMIT_WINDOW_S seconds: writes and
 * reads, each per client IP (checked before authentication, so floods of bad tokens are limited
 * too) and per client (the token's `azp`, else its `sub`; checked after authentication).
 *
 * Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
 * (seconds) of the budget closest to running out; a request over a budget gets `429`
 * problem+json with `Retry-After`.
 *
 * When Redis cannot answer (down, or slower than RATE_LIMIT_REDIS_TIMEOUT_MS): reads pass
 * unlimited (fail open); writes either pass under an in-process limiter with the same budgets
 * (`RATE_LIMIT_WRITES_ON_REDIS_DOWN=open`, the default, rate-limiter-flexible's
 * `insuranceLimiter` - checkout must not depend on Redis), or get 503 (`closed`). The in-process
 * budgets are per replica, so during an outage N replicas admit up to N times the budget.
 */
import type { RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import type { Principal } from './auth';
import { Problem } from './problem';

export const REQUEST_CLASSES = ['read', 'write'] as const;
export type RequestClass = (typeof REQUEST_CLASSES)[number];
export const LIMIT_DIMENSIONS = ['ip', 'client'] as const;
export type LimitDimension = (typeof LIMIT_DIMENSIONS)[number];

export type RateLimitSettings = Pick<
  Config,
  | 'RATE_LIMIT_WINDOW_S'
  | 'RATE_LIMIT_WRITES_PER_CLIENT'
  | 'RATE_LIMIT_WRITES_PER_IP'
  | 'RATE_LIMIT_READS_PER_CLIENT'
  | 'RATE_LIMIT_READS_PER_IP'
  | 'RATE_LIMIT_WRITES_ON_REDIS_DOWN'
  | 'RATE_LIMIT_REDIS_PREFIX'
>;

export type RateLimits = {
  /** The per-IP budget of a request class; mount before authentication. */
  byIp: (requestClass: RequestClass) => RequestHandler;
  /** The per-client budget of a request class; mount after authentication. */
  byClient: (requestClass: RequestClass) => RequestHandler;
};

export const rateLimitRejections = new Counter({
  name: 'payorch_rate_limit_rejections_total',
  help: 'Requests answered 429, by request class and the budget that ran out',
  labelNames: ['class', 'dimension'] as const,
});

export const rateLimitStoreUnavailable = new Counter({
  name: 'payorch_rate_limit_store_unavailable_total',
  help: 'Requests whose rate limit Redis could not count, by request class and what happened (passed, insured, refused)',
  labelNames: ['class', 'outcome'] as const,
});

/** The in-process insurance limiter, counted so an outage shows on a dashboard. */
class InsuranceLimiter extends RateLimiterMemory {
  constructor(
    options: ConstructorParameters<typeof RateLimiterMemory>[0],
    private readonly requestClass: RequestClass,
  ) {
    super(options);
  }
  override consume(key: string | number, points?: number, options?: Record<string, unknown>): Promise<RateLimiterRes> {
    rateLimitStoreUnavailable.inc({ class: this.requestClass, outcome: 'insured' });
    return super.consume(key, points, options);
  }
}

type Budget = { requestClass: RequestClass; dimension: LimitDimension; points: number; limiter: RateLimiterRedis };

/** The figures reported in the RateLimit-* headers: those of the budget with the fewest requests left. */
type Reported = { limit: number; remaining: number; resetMs: number };

const BUDGET_POINTS: Record<RequestClass, Record<LimitDimension, (s: RateLimitSettings) => number>> = {
  write: { ip: (s) => s.RATE_LIMIT_WRITES_PER_IP, client: (s) => s.RATE_LIMIT_WRITES_PER_CLIENT },
  read: { ip: (s) => s.RATE_LIMIT_READS_PER_IP, client: (s) => s.RATE_LIMIT_READS_PER_CLIENT },
};

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1_000));

function report(res: Response, points: number, result: RateLimiterRes): void {
  const current = res.locals.rateLimit as Reported | undefined;
  const candidate: Reported = { limit: points, remaining: Math.max(0, result.remainingPoints), resetMs: result.msBeforeNext };
  if (current && (current.remaining < candidate.remaining || (current.remaining === candidate.remaining && current.limit <= candidate.limit))) return;
  res.locals.rateLimit = candidate;
  res.setHeader('RateLimit-Limit', String(candidate.limit));
  res.setHeader('RateLimit-Remaining', String(candidate.remaining));
  res.setHeader('RateLimit-Reset', String(seconds(candidate.resetMs)));
}

/**
 * `redis` should be a client of its own with a command timeout and no offline queue, so that a
 * slow or absent Redis fails a lookup quickly instead of holding the request.
 */
export function createRateLimits(deps: { redis: Redis; settings: RateLimitSettings; log: Logger }): RateLimits {
  const { settings } = deps;
  const duration = settings.RATE_LIMIT_WINDOW_S;
  let lastOutageLogAt = 0;

  const budgets = new Map<string, Budget>();
  for (const requestClass of REQUEST_CLASSES) {
    for (const dimension of LIMIT_DIMENSIONS) {
      const points = BUDGET_POINTS[requestClass][dimension](settings);
      // Keys are `{prefix}{class}:{dimension}:{id}`: the id is the only variable part and comes
      // last, so two different ids can never share a key whatever characters they contain.
      const keyPrefix = `${settings.RATE_LIMIT_REDIS_PREFIX}${requestClass}:${dimension}`;
      const insured = requestClass === 'write' && settings.RATE_LIMIT_WRITES_ON_REDIS_DOWN === 'open';
      const limiter = new RateLimiterRedis({
        storeClient: deps.redis,
        keyPrefix,
        points,
        duration,
        // Not connected: go straight to the insurance (or the error) instead of queueing.
        rejectIfRedisNotReady: true,
        // Once a key has used its budget this process stops asking Redis until the window ends.
        inMemoryBlockOnConsumed: points,
        ...(insured ? { insuranceLimiter: new InsuranceLimiter({ keyPrefix: `${keyPrefix}:insurance`, points, duration }, requestClass) } : {}),
      });
      budgets.set(`${requestClass}:${dimension}`, { requestClass, dimension, points, limiter });
    }
  }

  const middleware = (budget: Budget, keyOf: (res: Response, ip: string) => string): RequestHandler =>
    (req, res, next) => {
      const key = keyOf(res, req.ip ?? req.socket.remoteAddress ?? 'unknown');
      budget.limiter.consume(key).then(
        (result) => {
          report(res, budget.points, result);
          next();
        },
        (rejection: unknown) => {
          if (rejection instanceof RateLimiterRes) {
            report(res, budget.points, rejection);
            rateLimitRejections.inc({ class: budget.requestClass, dimension: budget.dimension });
            const retryAfterS = seconds(rejection.msBeforeNext);
            const who = budget.dimension === 'ip' ? 'this IP address' : 'this client';
            return next(
              new Problem(429, 'rate-limited', 'Too many requests', `The ${budget.requestClass} budget of ${who} (${budget.points} requests per ${duration} s) is used up; retry in ${retryAfterS} s.`, {}, { 'Retry-After': String(retryAfterS) }),
            );
          }
          // Redis could not count this request.
          const now = Date.now();
          if (now - lastOutageLogAt > 10_000) {
            lastOutageLogAt = now;
            deps.log.warn({ err: rejection, requestClass: budget.requestClass }, 'rate limiter store unavailable');
          }
          if (budget.requestClass === 'read') {
            rateLimitStoreUnavailable.inc({ class: 'read', outcome: 'passed' });
            return next();
          }
          // A write without insurance: RATE_LIMIT_WRITES_ON_REDIS_DOWN=closed.
          rateLimitStoreUnavailable.inc({ class: 'write', outcome: 'refused' });
          next(new Problem(503, 'dependency-unavailable', 'Service unavailable', 'The rate limiter cannot reach its store, and writes are refused until it can (RATE_LIMIT_WRITES_ON_REDIS_DOWN=closed); nothing was changed.', {}, { 'Retry-After': '2' }));
        },
      );
    };

  const budget = (requestClass: RequestClass, dimension: LimitDimension) => budgets.get(`${requestClass}:${dimension}`)!;
  return {
    byIp: (requestClass) => middleware(budget(requestClass, 'ip'), (_res, ip) => ip),
    byClient: (requestClass) =>
      middleware(budget(requestClass, 'client'), (res) => {
        const principal = res.locals.principal as Principal | undefined;
        if (!principal) throw new Error('byClient rate limit mounted before authentication');
        return principal.clientId;
      }),
  };
}
