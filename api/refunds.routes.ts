/** HTTP layer of money back: cancel a payment, refund a captured order, read a refund. */
import express from 'express';
import type { Authenticator, Principal } from './auth';
import { readAccess } from './ownership';
import { validateCreateRefund } from './payment.validation';
import { PAYMENT_READ_SCOPES, UUID_PATTERN, idempotencyKeyOf, jsonBody, requireJson, sendOutcome } from './payments.routes';
import { Problem } from './problem';
import type { createPaymentsService } from './payments.service';
import type { RateLimits } from './rate-limit';
import type { createRefundsService } from './refunds.service';

/** Scopes that read any refund; a seller token reads its own orders' refunds without them. */
export const REFUND_READ_SCOPES = [...PAYMENT_READ_SCOPES, 'refunds:write'] as const;

export function refundsRouter(deps: {
  auth: Authenticator;
  refunds: ReturnType<typeof createRefundsService>;
  payments: ReturnType<typeof createPaymentsService>;
  limits: RateLimits;
  bodyLimitBytes: number;
}): express.Router {
  const router = express.Router();
  const { auth, limits } = deps;
  const json = jsonBody(deps.bodyLimitBytes);
  const paymentIdOf = (req: express.Request): string => {
    const id = req.params.paymentId as string;
    if (!UUID_PATTERN.test(id)) throw new Problem(404, 'not-found', 'Payment not found', 'No payment has this id.');
    return id.toLowerCase();
  };

  router.post('/api/v1/payments/:paymentId/cancel', limits.byIp('write'), auth.authenticate, limits.byClient('write'), auth.requireScope('payments:write'), async (req, res) => {
    const key = idempotencyKeyOf(req);
    const paymentId = paymentIdOf(req);
    const principal = res.locals.principal as Principal;
    const outcome = await deps.refunds.cancelPayment({
      principal: principal.subject,
      idempotencyKey: key,
      paymentId,
      view: (id) => deps.payments.getPayment(id, { view: 'full' }),
    });
    sendOutcome(res, outcome);
  });

  router.post('/api/v1/payments/:paymentId/refunds', limits.byIp('write'), auth.authenticate, limits.byClient('write'), auth.requireScope('refunds:write'), requireJson, json, async (req, res) => {
    const key = idempotencyKeyOf(req);
    const paymentId = paymentIdOf(req);
    const validation = validateCreateRefund(req.body, (req as express.Request & { rawBody?: string }).rawBody);
    if (!validation.ok) {
      throw new Problem(400, 'invalid-request', 'Invalid request', `The request body violates ${validation.errors.length} rule(s); see errors.`, { errors: validation.errors });
    }
    const outcome = await deps.refunds.requestRefund({ principal: (res.locals.principal as Principal).subject, idempotencyKey: key, paymentId, body: validation.value });
    sendOutcome(res, outcome);
  });

  // A seller reading another seller's refund gets the same 404 as for an unknown id.
  router.get('/api/v1/refunds/:refundId', limits.byIp('read'), auth.authenticate, limits.byClient('read'), async (req, res) => {
    const access = readAccess(res.locals.principal as Principal, REFUND_READ_SCOPES);
    const refundId = req.params.refundId as string;
    const refund = UUID_PATTERN.test(refundId) ? await deps.refunds.getRefund(refundId.toLowerCase(), access) : undefined;
    if (!refund) throw new Problem(404, 'not-found', 'Refund not found', 'No refund has this id.');
    res.json(refund);
  });

  return router;
}

