/** HTTP layer of payments: parse and validate, call the service, map outcomes to HTTP. */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Authenticator, Principal } from './auth';
import { readAccess } from './ownership';
import { IDEMPOTENCY_KEY_PATTERN, validateCreatePayment } from './payment.validation';
import { checkoutDuration } from '../observability/metrics';
import { PROBLEM_CONTENT_TYPE, Problem } from './problem';
import type { createPaymentsService } from './payments.service';
import type { HttpOutcome } from './idempotency';
import type { RateLimits } from './rate-limit';

/** Scopes that read any payment in full; a seller token reads its own orders without them. */
export const PAYMENT_READ_SCOPES = ['payments:read', 'payments:write'] as const;

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** 415 unless the request declares a JSON body; checked before the body is read. */
export function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is(['application/json', 'application/*+json'])) {
    return next(new Problem(415, 'unsupported-media-type', 'Unsupported media type', 'The request body must be application/json.'));
  }
  next();
}

/** The JSON body parser of every command: UTF-8 checked on the raw bytes, which are kept for the money-notation rule. */
export function jsonBody(limitBytes: number): express.RequestHandler {
  return express.json({
    limit: limitBytes,
    strict: true,
    type: ['application/json', 'application/*+json'],
    // The raw bytes are checked before parsing: they must be valid UTF-8 (a decoder would
    // silently turn bad bytes into U+FFFD), and money must be written as plain integers.
    verify: (req, _res, buf) => {
      try {
        (req as express.Request & { rawBody?: string }).rawBody = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      } catch {
        throw Object.assign(new Error('the body is not valid UTF-8'), { status: 400, type: 'encoding.invalid' });
      }
    },
  });
}

/** The Idempotency-Key header of a command, or the 400 that says what is wrong with it. */
export function idempotencyKeyOf(req: Request): string {
  const key = req.header('idempotency-key');
  if (key === undefined || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new Problem(400, 'invalid-idempotency-key', 'Invalid Idempotency-Key', 'The Idempotency-Key header is required: 1-128 characters of [A-Za-z0-9._:-].', {
      errors: [{ pointer: 'header:Idempotency-Key', detail: key === undefined ? 'is required' : 'must be 1-128 characters of [A-Za-z0-9._:-]' }],
    });
  }
  return key;
}

/** Sends a command's outcome: its status, Location, the replay header, JSON or problem+json. */
export function sendOutcome(res: Response, outcome: HttpOutcome): void {
  if (outcome.replayed) res.setHeader('Idempotent-Replayed', 'true');
  if (outcome.location) res.setHeader('Location', outcome.location);
  res.status(outcome.status);
  if (outcome.status >= 400) res.type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(outcome.body));
  else res.json(outcome.body);
}

export function paymentsRouter(deps: {
  auth: Authenticator;
  service: ReturnType<typeof createPaymentsService>;
  limits: RateLimits;
  bodyLimitBytes: number;
  afterResponse?: () => void;
}): express.Router {
  const router = express.Router();
  const json = jsonBody(deps.bodyLimitBytes);

  // Latency of every checkout request, whatever its end, labelled by outcome.
  const timeCheckout: express.RequestHandler = (_req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const status = res.statusCode;
      const outcome = status === 202 ? (res.getHeader('idempotent-replayed') ? 'replayed' : 'accepted') : status === 402 ? 'declined' : status === 503 ? 'unavailable' : status >= 500 ? 'error' : 'rejected';
      checkoutDuration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };

  const { auth, limits } = deps;
  router.post('/api/v1/payments', timeCheckout, limits.byIp('write'), auth.authenticate, limits.byClient('write'), auth.requireScope('payments:write'), requireJson, json, async (req, res) => {
    const key = idempotencyKeyOf(req);
    const validation = validateCreatePayment(req.body, (req as express.Request & { rawBody?: string }).rawBody);
    if (!validation.ok) {
      throw new Problem(400, 'invalid-request', 'Invalid request', `The request body violates ${validation.errors.length} rule(s); see errors.`, { errors: validation.errors });
    }
    const outcome = await deps.service.createPayment({
      principal: res.locals.principal as Principal,
      idempotencyKey: key,
      body: validation.value,
      instance: req.originalUrl,
      traceId: String(res.locals.traceId),
      traceparent: res.locals.traceparent as string | undefined,
    });
    if (deps.afterResponse) res.on('finish', deps.afterResponse);
    sendOutcome(res, outcome);
  });

  // A seller reading a payment without an order of its own gets the same 404 as for an unknown id.
  router.get('/api/v1/payments/:paymentId', limits.byIp('read'), auth.authenticate, limits.byClient('read'), async (req, res) => {
    const access = readAccess(res.locals.principal as Principal, PAYMENT_READ_SCOPES);
    const paymentId = req.params.paymentId as string;
    const payment = UUID_PATTERN.test(paymentId) ? await deps.service.getPayment(paymentId.toLowerCase(), access) : undefined;
    if (!payment) throw new Problem(404, 'not-found', 'Payment not found', 'No payment has this id.');
    res.json(payment);
  });

  return router;
}
