/**
 * The Express application: request ids and trace ids, probes, the routes, the OpenAPI document,
 * and problem+json for every error including unknown routes. Built from its dependencies so tests
 * can run it in-process against the real stack.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Logger } from '../observability/logger';
import { probeRouter, type Check } from '../observability/readiness';
import type { BalanceStore } from '../aggregator/balance-store';
import type { Authenticator } from './auth';
import { balancesRouter } from './balances.routes';
import { openApiDocument } from './openapi';
import { paymentsRouter } from './payments.routes';
import type { createPaymentsService } from './payments.service';
import { errorMiddleware, Problem } from './problem';

export type AppDeps = {
  auth: Authenticator;
  payments: ReturnType<typeof createPaymentsService>;
  balances: BalanceStore;
  checks: Record<string, Check>;
  bodyLimitBytes: number;
  log: Logger;
  afterResponse?: () => void;
};

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  // Continue the caller's trace when it sends a valid traceparent, else start one.
  app.use((req, res, next) => {
    const incoming = TRACEPARENT.exec(req.header('traceparent') ?? '');
    const traceId = incoming?.[1] ?? randomBytes(16).toString('hex');
    res.locals.traceId = traceId;
    res.locals.traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    next();
  });

  app.use(probeRouter(deps.checks));
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  app.use(balancesRouter({ auth: deps.auth, store: deps.balances }));
  app.use(paymentsRouter({ auth: deps.auth, service: deps.payments, bodyLimitBytes: deps.bodyLimitBytes, afterResponse: deps.afterResponse }));

  app.use((req, _res, next) => next(new Problem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.path.slice(0, 200)}.`)));
  app.use(errorMiddleware(deps.log));
  return app;
}
