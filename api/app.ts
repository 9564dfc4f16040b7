/**
 * The Express application: security headers, CORS when configured, request ids and trace ids,
 * probes, the routes (rate-limited and authenticated), the OpenAPI document, and problem+json for
 * every error including unknown routes. Built from its dependencies so tests can run it in-process
 * against the real stack.
 */
import { randomBytes } from 'node:crypto';
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import cors from 'cors';
import express from 'express';
import type { Logger } from '../observability/logger';
import { probeRouter, type Check } from '../observability/readiness';
import type { BalanceStore } from '../aggregator/balance-store';
import type { Authenticator } from './auth';
import { balancesRouter } from './balances.routes';
import { openApiDocument } from './openapi';
import { paymentsRouter } from './payments.routes';
import { refundsRouter } from './refunds.routes';
import { moneyOutRouter } from './money-out.routes';
import type { Database } from '../db/client';
import { webhooksRouter } from './webhooks.routes';
import type { createWebhooksService } from './webhooks.service';
import type { createRefundsService } from './refunds.service';
import type { createPaymentsService } from './payments.service';
import { errorMiddleware, Problem } from './problem';
import type { RateLimits } from './rate-limit';
import { securityHeaders } from './security-headers';

export type AppDeps = {
  auth: Authenticator;
  payments: ReturnType<typeof createPaymentsService>;
  refunds: ReturnType<typeof createRefundsService>;
  balances: BalanceStore;
  /** Merchant webhook endpoints; absent: the routes are not mounted. */
  webhooks?: ReturnType<typeof createWebhooksService>;
  checks: Record<string, Check>;
  limits: RateLimits;
  bodyLimitBytes: number;
  /** Browser origins allowed by CORS; empty: no CORS headers (browsers then refuse cross-origin reads). */
  corsOrigins: readonly string[];
  /** Proxy hops trusted for X-Forwarded-For (the client IP of the per-IP rate limits). */
  trustProxyHops: number;
  log: Logger;
  afterResponse?: () => void;
  /** Payouts, `available` balances and the reconciliation operator endpoints (money out). */
  moneyOut?: { db: Database; idempotency: { leaseMs: number; retentionS: number } };
};

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const tracer = trace.getTracer('payorch-api');

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', deps.trustProxyHops);
  app.use(securityHeaders());
  if (deps.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...deps.corsOrigins],
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'traceparent'],
        exposedHeaders: ['Location', 'Idempotent-Replayed', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
        maxAge: 600,
      }),
    );
  }

  // One server span per request, continuing the caller's trace when it sends a valid traceparent.
  // Its trace id is the problem+json traceId. Without a tracer provider (tracing off) the span
  // is not recording and a random trace id is made up instead, so errors still carry one.
  app.use((req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    tracer.startActiveSpan(`${req.method} ${req.path.slice(0, 100)}`, { kind: SpanKind.SERVER, attributes: { 'http.method': req.method, 'http.target': req.originalUrl.slice(0, 200) } }, parent, (span) => {
      const spanContext = span.spanContext();
      const incoming = TRACEPARENT.exec(req.header('traceparent') ?? '');
      const traceId = isSpanContextValid(spanContext) ? spanContext.traceId : (incoming?.[1] ?? randomBytes(16).toString('hex'));
      const spanId = isSpanContextValid(spanContext) ? spanContext.spanId : randomBytes(8).toString('hex');
      res.locals.traceId = traceId;
      res.locals.traceparent = `00-${traceId}-${spanId}-01`;
      res.on('finish', () => {
        span.setAttribute('http.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      next();
    });
  });

  app.use(probeRouter(deps.checks));
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.use(balancesRouter({ auth: deps.auth, store: deps.balances, limits: deps.limits, ...(deps.moneyOut ? { db: deps.moneyOut.db } : {}) }));
  if (deps.moneyOut) app.use(moneyOutRouter({ auth: deps.auth, db: deps.moneyOut.db, idempotency: deps.moneyOut.idempotency, limits: deps.limits, bodyLimitBytes: deps.bodyLimitBytes }));
  app.use(paymentsRouter({ auth: deps.auth, service: deps.payments, limits: deps.limits, bodyLimitBytes: deps.bodyLimitBytes, afterResponse: deps.afterResponse }));
  app.use(refundsRouter({ auth: deps.auth, refunds: deps.refunds, payments: deps.payments, limits: deps.limits, bodyLimitBytes: deps.bodyLimitBytes }));

  if (deps.webhooks) app.use(webhooksRouter({ auth: deps.auth, webhooks: deps.webhooks, limits: deps.limits, bodyLimitBytes: deps.bodyLimitBytes }));

  app.use((req, _res, next) => next(new Problem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.path.slice(0, 200)}.`)));
  app.use(errorMiddleware(deps.log));
  return app;
}
