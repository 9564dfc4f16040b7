/**
 * Money out over HTTP:
 * - `GET /api/v1/sellers/{sellerId}/payouts`, `GET /api/v1/sellers/me/payouts`, `GET
 *   /api/v1/payouts/{payoutId}`: scope `payouts:read`, or a seller token for its own payouts
 *   (another seller's payout is a 404, as if it did not exist).
 * - Operators: `GET /api/v1/ops/reconciliation/mismatches?date=YYYY-MM-DD&includeResolved=true`
 *   (scope `ops:read`) and `POST /api/v1/ops/ledger/adjustments` (scope `ops:write`, a reason is
 *   required; the adjustment is audited with the token's subject and becomes an ADJUSTMENT entry),
 *   `POST /api/v1/ops/reconciliation/mismatches/{id}/accept` (scope `ops:write`, a reason: settles an
 *   amount or fee mismatch's item at the PSP's figures). Both need an Idempotency-Key.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import { z } from 'zod';
import type { Database } from '../db/client';
import { getPayout, listPayouts } from '../db/payouts';
import { acceptSettledItem, listMismatches, recordAdjustment } from '../db/settlement';
import type { Authenticator, Principal } from './auth';
import { createIdempotency, type HttpOutcome, type IdempotentCommand, requestHash } from './idempotency';
import { idempotencyKeyOf, jsonBody, requireJson, sendOutcome, UUID_PATTERN } from './payments.routes';
import { Problem } from './problem';
import type { RateLimits } from './rate-limit';

const SELLER_ID = /^[^\p{C}]{1,64}$/u;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ACCOUNT = z.string().regex(/^[A-Z_]+(\.[^\p{C}]{1,64})?$/u, 'must be an account code, e.g. PLATFORM_CASH or MERCHANT_PAYABLE.{sellerId}');
const adjustmentSchema = z
  .object({
    streamId: z.string().regex(SELLER_ID, 'must be 1-64 printable characters'),
    debitAccount: ACCOUNT,
    creditAccount: ACCOUNT,
    amount: z.object({ quantity: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), currency: z.string().regex(/^[A-Z]{3}$/) }).strict(),
    reason: z.string().trim().min(3).max(500),
    mismatchId: z.string().regex(/^[1-9][0-9]{0,18}$/).optional(),
  })
  .strict()
  .refine((b) => b.debitAccount !== b.creditAccount, { message: 'debitAccount and creditAccount must differ', path: ['creditAccount'] })
  // A seller's payable is adjusted on that seller's own stream (where its available amount and payouts are kept).
  .refine((b) => !b.debitAccount.startsWith('MERCHANT_PAYABLE.') || b.debitAccount === `MERCHANT_PAYABLE.${b.streamId}`, { message: 'a seller payable must be MERCHANT_PAYABLE.{streamId}', path: ['debitAccount'] })
  .refine((b) => !b.creditAccount.startsWith('MERCHANT_PAYABLE.') || b.creditAccount === `MERCHANT_PAYABLE.${b.streamId}`, { message: 'a seller payable must be MERCHANT_PAYABLE.{streamId}', path: ['creditAccount'] });
const acceptSchema = z.object({ reason: z.string().trim().min(3).max(500) }).strict();
const MISMATCH_ID = /^[1-9][0-9]{0,18}$/;

export function moneyOutRouter(deps: { auth: Authenticator; db: Database; limits: RateLimits; bodyLimitBytes: number; idempotency: { leaseMs: number; retentionS: number } }): express.Router {
  const router = express.Router();
  const { auth, limits } = deps;
  const idempotency = createIdempotency({ db: deps.db, ...deps.idempotency });
  const read = [limits.byIp('read'), auth.authenticate, limits.byClient('read')];

  const sellerPayouts = async (sellerId: string, res: express.Response) => {
    res.json({ sellerId, payouts: await listPayouts(deps.db, sellerId, 100) });
  };
  router.get('/api/v1/sellers/me/payouts', ...read, async (_req, res) => {
    const principal = res.locals.principal as Principal;
    if (!principal.sellerId) throw new Problem(403, 'forbidden', 'Forbidden', 'This token does not belong to a seller (no seller_id claim).');
    await sellerPayouts(principal.sellerId, res);
  });
  router.get('/api/v1/sellers/:sellerId/payouts', ...read, async (req, res) => {
    const sellerId = req.params.sellerId as string;
    const principal = res.locals.principal as Principal;
    if (!SELLER_ID.test(sellerId)) throw new Problem(400, 'invalid-request', 'Invalid request', 'The seller id must be 1-64 printable characters.', { errors: [{ pointer: 'path:sellerId', detail: 'must be 1-64 printable characters' }] });
    if (!principal.scopes.has('payouts:read') && principal.sellerId !== sellerId) throw new Problem(403, 'forbidden', 'Forbidden', "A seller may read only its own payouts; other sellers' payouts need the scope payouts:read.");
    await sellerPayouts(sellerId, res);
  });
  router.get('/api/v1/payouts/:payoutId', ...read, async (req, res) => {
    const id = req.params.payoutId as string;
    const principal = res.locals.principal as Principal;
    if (!principal.scopes.has('payouts:read') && !principal.sellerId) throw new Problem(403, 'forbidden', 'Forbidden', 'Reading payouts needs the scope payouts:read or a seller token.');
    const payout = UUID_PATTERN.test(id) ? await getPayout(deps.db, id.toLowerCase()) : undefined;
    if (!payout || (!principal.scopes.has('payouts:read') && payout.sellerId !== principal.sellerId)) throw new Problem(404, 'not-found', 'Payout not found', 'No payout has this id.');
    res.json(payout);
  });

  router.get('/api/v1/ops/reconciliation/mismatches', ...read, auth.requireScope('ops:read'), async (req, res) => {
    const date = typeof req.query.date === 'string' ? req.query.date : undefined;
    if (date !== undefined && (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`)))) {
      throw new Problem(400, 'invalid-request', 'Invalid request', 'date must be YYYY-MM-DD.', { errors: [{ pointer: 'query:date', detail: 'must be YYYY-MM-DD' }] });
    }
    const includeResolved = req.query.includeResolved === 'true';
    res.json({ date: date ?? null, mismatches: await listMismatches(deps.db, { ...(date ? { date } : {}), includeResolved, limit: 1_000 }) });
  });

  router.post('/api/v1/ops/ledger/adjustments', limits.byIp('write'), auth.authenticate, limits.byClient('write'), auth.requireScope('ops:write'), requireJson, jsonBody(deps.bodyLimitBytes), async (req, res) => {
    // A retried POST must not book a second adjustment: the key makes it replay the first answer.
    const key = idempotencyKeyOf(req);
    const parsed = adjustmentSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new Problem(400, 'invalid-request', 'Invalid request', 'The adjustment is not valid.', { errors: parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, detail: i.message })) });
    }
    const principal = res.locals.principal as Principal;
    const b = parsed.data;
    const cmd: IdempotentCommand = {
      principal: principal.subject,
      key,
      hash: requestHash({ operation: 'ledger-adjustment', body: b }),
      // The adjustment's id, fixed by the first request: a retry after a crash books under the same id.
      paymentId: randomUUID(),
      locationOf: () => undefined,
      onFailure: 'forget',
    };
    const outcome = await idempotency.run(cmd, async (adjustmentId): Promise<HttpOutcome> => {
      const created: HttpOutcome = { status: 201, body: { adjustmentId, journalEntryId: `ADJUSTMENT:${adjustmentId}`, ...b, actor: principal.subject }, replayed: false };
      const result = await recordAdjustment(
        deps.db,
        { streamId: b.streamId, debitAccount: b.debitAccount, creditAccount: b.creditAccount, amountMinor: BigInt(b.amount.quantity), currency: b.amount.currency, reason: b.reason, actor: principal.subject, ...(b.mismatchId ? { mismatchId: b.mismatchId } : {}) },
        { id: adjustmentId, inTransaction: (tx) => idempotency.complete(tx, cmd, adjustmentId, created) },
      );
      if ('refused' in result) {
        if (result.refused === 'mismatch-unknown') throw new Problem(404, 'not-found', 'Mismatch not found', `No reconciliation mismatch has the id ${b.mismatchId}; nothing was booked.`);
        if (result.refused === 'mismatch-needs-accept') {
          throw new Problem(
            422,
            'mismatch-needs-accept',
            'This mismatch is not resolved by an adjustment',
            `Reconciliation mismatch ${b.mismatchId} concerns one of our captures or refunds: an amount or fee mismatch is accepted (POST /api/v1/ops/reconciliation/mismatches/${b.mismatchId}/accept) so that it settles, and the difference booked by an adjustment without mismatchId; captured-not-settled resolves when the PSP settles it. Only settled-unknown is resolved by an adjustment. Nothing was booked.`,
          );
        }
        throw new Problem(409, 'mismatch-resolved', 'Mismatch already resolved', `Reconciliation mismatch ${b.mismatchId} is already resolved; nothing was booked.`);
      }
      return created;
    });
    sendOutcome(res, outcome);
  });

  router.post('/api/v1/ops/reconciliation/mismatches/:mismatchId/accept', limits.byIp('write'), auth.authenticate, limits.byClient('write'), auth.requireScope('ops:write'), requireJson, jsonBody(deps.bodyLimitBytes), async (req, res) => {
    const key = idempotencyKeyOf(req);
    const mismatchId = String(req.params.mismatchId);
    if (!MISMATCH_ID.test(mismatchId)) throw new Problem(404, 'not-found', 'Mismatch not found', 'No reconciliation mismatch has this id; nothing was booked.');
    const parsed = acceptSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new Problem(400, 'invalid-request', 'Invalid request', 'The acceptance is not valid.', { errors: parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, detail: i.message })) });
    }
    const principal = res.locals.principal as Principal;
    const cmd: IdempotentCommand = {
      principal: principal.subject,
      key,
      hash: requestHash({ operation: 'mismatch-accept', mismatchId, body: parsed.data }),
      paymentId: randomUUID(),
      locationOf: () => undefined,
      onFailure: 'forget',
    };
    const outcome = await idempotency.run(cmd, async (commandId): Promise<HttpOutcome> => {
      let done: HttpOutcome | undefined;
      const result = await acceptSettledItem(
        deps.db,
        { mismatchId, reason: parsed.data.reason, actor: principal.subject },
        {
          inTransaction: async (tx, accepted) => {
            if (!('accepted' in accepted)) return;
            done = { status: 200, body: { ...accepted.accepted, resolution: 'ACCEPTED', reason: parsed.data.reason, actor: principal.subject }, replayed: false };
            await idempotency.complete(tx, cmd, commandId, done);
          },
        },
      );
      if ('refused' in result) {
        if (result.refused === 'mismatch-unknown') throw new Problem(404, 'not-found', 'Mismatch not found', `No reconciliation mismatch has the id ${mismatchId}; nothing was booked.`);
        if (result.refused === 'mismatch-resolved') throw new Problem(409, 'mismatch-resolved', 'Mismatch already resolved', `Reconciliation mismatch ${mismatchId} is already resolved; nothing was booked.`);
        throw new Problem(422, 'mismatch-not-acceptable', 'Mismatch cannot be accepted', `${result.detail ?? 'This mismatch cannot be accepted'}; nothing was booked.`);
      }
      return done!;
    });
    sendOutcome(res, outcome);
  });

  return router;
}
