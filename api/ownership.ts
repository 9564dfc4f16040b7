/**
 * Reads are owned (ARCHITECTURE.md, "Reads are owned"). One rule for every read of seller-owned
 * rows - PaymentOrders now, refunds and payouts as they arrive:
 *
 * - A principal whose token carries `seller_id` is a seller, whatever its scopes: it sees only
 *   the rows whose `sellerId` is its own. When none of the rows is its own the resource does not
 *   exist for it: the route answers 404, exactly as for an unknown id, so a seller cannot probe
 *   which ids exist.
 * - Any other principal needs one of the read scopes (e.g. `payments:read` or `payments:write`) and
 *   then sees every row; without one it gets 403. This is decided before the lookup
 *   (`readAccess`), so the 403 never depends on whether the id exists.
 *
 * Usage: `const access = readAccess(principal, SCOPES)` before loading; then
 * `ownedRows(access, rows)` - `undefined` means 404.
 */
import type { Principal } from './auth';
import { Problem } from './problem';

/** How much of a resource a reader sees; the `view` field of the answer. */
export const READ_VIEWS = ['full', 'seller'] as const;
export type ReadView = (typeof READ_VIEWS)[number];

export type ReadAccess = { view: Extract<ReadView, 'full'> } | { view: Extract<ReadView, 'seller'>; sellerId: string };

/** Who may read at all, and how much: throws the 403 for a non-seller without a read scope. */
export function readAccess(principal: Principal, anyOfScopes: readonly string[]): ReadAccess {
  if (principal.sellerId !== undefined) return { view: 'seller', sellerId: principal.sellerId };
  if (anyOfScopes.some((s) => principal.scopes.has(s))) return { view: 'full' };
  throw new Problem(403, 'forbidden', 'Forbidden', `This read needs the scope ${anyOfScopes.join(' or ')}, or a seller token.`);
}

/**
 * The rows this access may see, in their order; `undefined` when a seller owns none of them (the
 * caller answers 404 as for an unknown id). An empty list stays visible to a full reader.
 */
export function ownedRows<T extends { sellerId: string }>(access: ReadAccess, rows: readonly T[]): T[] | undefined {
  if (access.view === 'full') return [...rows];
  const own = rows.filter((r) => r.sellerId === access.sellerId);
  return own.length > 0 ? own : undefined;
}
