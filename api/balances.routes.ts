/**
 * Merchant balances: `GET /api/v1/sellers/{sellerId}/balance` (scope balances:read, or a seller
 * token whose seller_id claim matches) and `GET /api/v1/sellers/me/balance` (a seller token).
 * Reads are snapshot + Redis delta; without Redis they are computed from Postgres postings.
 */
import express from 'express';
import type { BalanceStore } from '../aggregator/balance-store';
import type { Database } from '../db/client';
import { availableBalances } from '../db/payouts';
import { moneyToJson } from '../domain/money';
import type { Authenticator, Principal } from './auth';
import { Problem } from './problem';
import type { RateLimits } from './rate-limit';

const SELLER_ID = /^[^\p{C}]{1,64}$/u;

export function balancesRouter(deps: { auth: Authenticator; store: BalanceStore; limits: RateLimits; db?: Database }): express.Router {
  const router = express.Router();
  const guard = [deps.limits.byIp('read'), deps.auth.authenticate, deps.limits.byClient('read')];

  const respond = async (sellerId: string, res: express.Response) => {
    const balances = await deps.store.readSellerBalances(sellerId);
    res.json({
      sellerId,
      balances: balances.map((b) => ({
        accountCode: b.accountCode,
        balance: moneyToJson({ amountMinor: b.balanceMinor, currency: b.currency }),
        lastAppliedEntryId: b.lastAppliedEntryId,
        asOf: b.asOf,
      })),
      // Per currency: what a payout may take now (settled, net of refunds and payouts in flight);
      // negative when refunds of money already paid out left the seller in debt (`debtMinor`).
      ...(deps.db
        ? { available: (await availableBalances(deps.db, sellerId)).map((a) => ({ currency: a.currency, availableMinor: Number(a.availableMinor > 0n ? a.availableMinor : 0n), debtMinor: Number(a.availableMinor < 0n ? -a.availableMinor : 0n) })) }
        : {}),
    });
  };

  router.get('/api/v1/sellers/me/balance', ...guard, async (_req, res) => {
    const principal = res.locals.principal as Principal;
    if (!principal.sellerId) throw new Problem(403, 'forbidden', 'Forbidden', 'This token does not belong to a seller (no seller_id claim).');
    await respond(principal.sellerId, res);
  });

  router.get('/api/v1/sellers/:sellerId/balance', ...guard, async (req, res) => {
    const sellerId = req.params.sellerId as string;
    const principal = res.locals.principal as Principal;
    if (!SELLER_ID.test(sellerId)) {
      throw new Problem(400, 'invalid-request', 'Invalid request', 'The seller id must be 1-64 printable characters.', { errors: [{ pointer: 'path:sellerId', detail: 'must be 1-64 printable characters' }] });
    }
    if (!principal.scopes.has('balances:read') && principal.sellerId !== sellerId) {
      throw new Problem(403, 'forbidden', 'Forbidden', "A seller may read only its own balance; other sellers' balances need the scope balances:read.");
    }
    await respond(sellerId, res);
  });

  return router;
}
