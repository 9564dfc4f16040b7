/**
 * Payouts against Postgres: what a seller may be paid, the reservation of a payout, and its
 * outcomes (each one transaction with its ledger fact and its merchant event).
 *
 * Available (per seller and currency) =
 *     what settled captures owe the seller (amount − commission, captures the PSP has settled)
 *   − what refunds of those settled captures take back (REFUNDED: the REFUND entry's seller share;
 *     requested and in flight: the whole amount, as the most it can take; a refund of a capture not
 *     yet settled counts once the capture does)
 *   − payouts requested or paid
 *   ± operator ADJUSTMENTs of the seller's payable.
 * It is cumulative, so a negative figure (refunds of money already paid out) is the seller's debt,
 * and it nets against the next payout by itself.
 *
 * The reservation locks the seller's `payout_accounts` row, computes the figure and inserts the
 * payout in one transaction. A refund's insert locks the same row (trigger `refunds_lock_payout_account`),
 * so a refund and a reservation never interleave: the payout never exceeds what was available.
 */
import { randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import { merchantPayable } from '../ledger/accounts';
import type { PayoutStatus } from '../domain/money-out';
import type { Database } from './client';
import { insertLedgerFacts, type Executor } from './ledger-facts';
import { insertMerchantEvents } from './merchant-events';
import { payoutAccounts, payouts } from './schema';

export type AvailableBalance = { currency: string; availableMinor: bigint; settledPayableMinor: bigint; refundsMinor: bigint; payoutsMinor: bigint; adjustmentsMinor: bigint };

/** The available figure of every currency the seller has, read with `tx` (inside the lock when reserving). */
export async function availableBalances(tx: Executor, sellerId: string): Promise<AvailableBalance[]> {
  const payable = merchantPayable(sellerId);
  const { rows } = await tx.execute<{ currency: string; settled: string; refunds: string; payouts: string; adjustments: string }>(sql`
    with settled as (
      select currency, sum(amount_minor - (amount_minor * commission_bps) / 10000) as v
        from payment_orders where seller_id = ${sellerId} and status = 'CAPTURED' and settled_at is not null group by currency),
    refunded as (
      select r.currency, sum(case
               when r.status = 'REFUNDED' and f.id is not null then r.amount_minor
                 - ((f.captured_minor * f.commission_bps / 10000) * (f.refunded_before_minor + r.amount_minor)) / f.captured_minor
                 + ((f.captured_minor * f.commission_bps / 10000) * f.refunded_before_minor) / f.captured_minor
               else r.amount_minor end) as v
        from refunds r join payment_orders po on po.id = r.payment_order_id and po.settled_at is not null
        left join ledger_facts f on f.id = 'REFUND:' || r.id::text
       where r.seller_id = ${sellerId} and r.status in ('REFUND_REQUESTED', 'REFUNDED') group by r.currency),
    paid as (
      select currency, sum(amount_minor) as v from payouts where seller_id = ${sellerId} and status in ('PAYOUT_REQUESTED', 'PAID') group by currency),
    adjusted as (
      select currency, sum(case when credit_account = ${payable} then amount_minor else -amount_minor end) as v
        from ledger_adjustments where stream_id = ${sellerId} and (credit_account = ${payable} or debit_account = ${payable}) group by currency),
    currencies as (select currency from settled union select currency from refunded union select currency from paid union select currency from adjusted
                   union select currency from payout_accounts where seller_id = ${sellerId})
    select c.currency, coalesce(s.v, 0)::text as settled, coalesce(r.v, 0)::text as refunds, coalesce(p.v, 0)::text as payouts, coalesce(a.v, 0)::text as adjustments
      from currencies c left join settled s using (currency) left join refunded r using (currency) left join paid p using (currency) left join adjusted a using (currency)
     order by c.currency`);
  return rows.map((r) => {
    const settledPayableMinor = BigInt(r.settled);
    const refundsMinor = BigInt(r.refunds);
    const payoutsMinor = BigInt(r.payouts);
    const adjustmentsMinor = BigInt(r.adjustments);
    return { currency: r.currency.trim(), availableMinor: settledPayableMinor - refundsMinor - payoutsMinor + adjustmentsMinor, settledPayableMinor, refundsMinor, payoutsMinor, adjustmentsMinor };
  });
}

export type ReservedPayout = { payoutId: string; sellerId: string; amountMinor: string; currency: string; status: PayoutStatus };

/**
 * Reserves this period's payout of every currency of the seller whose available amount reaches
 * `minMinor`. Idempotent per period: a retry (or a second run of the period) returns the payouts
 * the first one reserved and reserves nothing more.
 */
export async function reservePayouts(db: Database, input: { sellerId: string; period: string; minMinor: bigint }): Promise<ReservedPayout[]> {
  return db.transaction(async (tx) => {
    const accounts = await tx.select().from(payoutAccounts).where(eq(payoutAccounts.sellerId, input.sellerId)).orderBy(payoutAccounts.currency).for('update');
    if (accounts.length === 0) return [];
    const existing = await tx.select().from(payouts).where(and(eq(payouts.sellerId, input.sellerId), eq(payouts.period, input.period)));
    if (existing.length > 0) return existing.map((p) => ({ payoutId: p.id, sellerId: p.sellerId, amountMinor: p.amountMinor.toString(), currency: p.currency, status: p.status as PayoutStatus }));
    const out: ReservedPayout[] = [];
    for (const balance of await availableBalances(tx, input.sellerId)) {
      if (balance.availableMinor < input.minMinor || balance.availableMinor <= 0n) continue;
      const id = randomUUID();
      await tx.insert(payouts).values({ id, sellerId: input.sellerId, amountMinor: balance.availableMinor, currency: balance.currency, status: 'PAYOUT_REQUESTED', period: input.period });
      out.push({ payoutId: id, sellerId: input.sellerId, amountMinor: balance.availableMinor.toString(), currency: balance.currency, status: 'PAYOUT_REQUESTED' });
    }
    return out;
  });
}

const ALLOWED_FROM: Record<PayoutStatus, readonly PayoutStatus[]> = { PAYOUT_REQUESTED: [], PAID: ['PAYOUT_REQUESTED'], FAILED: ['PAYOUT_REQUESTED'], RETURNED: ['PAID'] };
/** Reported again after a later outcome was recorded (the run and the sweeper both look a payout up): nothing to do. */
const ALREADY_PAST: Partial<Record<PayoutStatus, readonly PayoutStatus[]>> = { PAID: ['RETURNED'] };

export class IllegalPayoutTransitionError extends Error {
  override readonly name = 'IllegalPayoutTransitionError';
}

/**
 * Moves a payout to `to` with what it means, in one transaction: PAID posts PAYOUT, RETURNED
 * posts PAYOUT_RETURN, and each writes its `payout.*` merchant event. Repeating a transition
 * already made, or reporting PAID for a payout already RETURNED, changes nothing (returns false).
 */
export async function transitionPayout(db: Database, input: { payoutId: string; to: Exclude<PayoutStatus, 'PAYOUT_REQUESTED'>; railPayoutId?: string; failureCode?: string }): Promise<{ applied: boolean; sellerId: string }> {
  return db.transaction(async (tx) => {
    const [payout] = await tx.select().from(payouts).where(eq(payouts.id, input.payoutId)).for('update');
    if (!payout) throw new IllegalPayoutTransitionError(`no payout ${input.payoutId}`);
    const from = payout.status as PayoutStatus;
    if (from === input.to || ALREADY_PAST[input.to]?.includes(from)) return { applied: false, sellerId: payout.sellerId };
    if (!ALLOWED_FROM[input.to].includes(from)) throw new IllegalPayoutTransitionError(`illegal payout transition ${from} -> ${input.to} for ${input.payoutId}`);
    await tx
      .update(payouts)
      .set({
        status: input.to,
        railPayoutId: input.railPayoutId ?? payout.railPayoutId,
        failureCode: input.failureCode ?? payout.failureCode,
        ...(input.to === 'PAID' ? { paidAt: sql`now()` } : {}),
        ...(input.to === 'RETURNED' ? { returnedAt: sql`now()` } : {}),
        updatedAt: sql`now()`,
      })
      .where(eq(payouts.id, input.payoutId));
    if (input.to === 'PAID' || input.to === 'RETURNED') {
      await insertLedgerFacts(tx, [
        {
          entryType: input.to === 'PAID' ? 'PAYOUT' : 'PAYOUT_RETURN',
          paymentOrderId: null,
          paymentId: null,
          sellerId: payout.sellerId,
          amountMinor: payout.amountMinor.toString(),
          currency: payout.currency,
          commissionBps: 0,
          ...(input.railPayoutId ?? payout.railPayoutId ? { metadata: { railPayoutId: (input.railPayoutId ?? payout.railPayoutId)! } } : {}),
          subject: { subjectId: payout.id },
        },
      ]);
    }
    const type = input.to === 'PAID' ? 'payout.paid' : input.to === 'FAILED' ? 'payout.failed' : 'payout.returned';
    await insertMerchantEvents(tx, [{ type, sellerId: payout.sellerId, subjectId: payout.id, data: { payoutId: payout.id, sellerId: payout.sellerId, amount: { quantity: Number(payout.amountMinor), currency: payout.currency }, status: input.to, ...(input.failureCode ? { failureCode: input.failureCode } : {}) } }]);
    return { applied: true, sellerId: payout.sellerId };
  });
}

export type PayoutView = { payoutId: string; sellerId: string; amount: { quantity: number; currency: string }; status: PayoutStatus; createdAt: string; paidAt?: string; returnedAt?: string; failureCode?: string };

const viewOf = (p: typeof payouts.$inferSelect): PayoutView => ({
  payoutId: p.id,
  sellerId: p.sellerId,
  amount: { quantity: Number(p.amountMinor), currency: p.currency },
  status: p.status as PayoutStatus,
  createdAt: p.createdAt.toISOString(),
  ...(p.paidAt ? { paidAt: p.paidAt.toISOString() } : {}),
  ...(p.returnedAt ? { returnedAt: p.returnedAt.toISOString() } : {}),
  ...(p.failureCode ? { failureCode: p.failureCode } : {}),
});

export async function getPayout(db: Database, payoutId: string): Promise<PayoutView | undefined> {
  const [row] = await db.select().from(payouts).where(eq(payouts.id, payoutId));
  return row ? viewOf(row) : undefined;
}

export async function listPayouts(db: Database, sellerId: string, limit: number): Promise<PayoutView[]> {
  const rows = await db.select().from(payouts).where(eq(payouts.sellerId, sellerId)).orderBy(desc(payouts.createdAt)).limit(limit);
  return rows.map(viewOf);
}

export type PayoutToSweep = ReservedPayout & { reason: 'not-sent' | 'return-unwatched' };

/**
 * What the payout sweeper must look up at the rail - payouts left reserved first, then the oldest
 * look-ups - each at most once per `recheckS` (the look-up time is recorded here, so a rail outage
 * does not make it spin; a paid payout's look-ups space out further as it ages):
 * - `not-sent`: reserved (PAYOUT_REQUESTED) longer than `stuckAfterS` ago - its run may have ended
 *   without an outcome (terminated, reset, out of retries while the rail was down);
 * - `return-unwatched`: PAID longer than `returnWatchS` ago (its run stopped watching) and less than
 *   `returnHorizonS` ago - a return after the run's watch is still recorded.
 */
export async function claimPayoutsToSweep(db: Database, options: { stuckAfterS: number; returnWatchS: number; returnHorizonS: number; recheckS: number; limit: number }): Promise<PayoutToSweep[]> {
  const { rows } = await db.execute<{ id: string; seller_id: string; amount_minor: string; currency: string; status: PayoutStatus }>(sql`
    with due as (
      select id from payouts
       where status in ('PAYOUT_REQUESTED', 'PAID')
         and ((status = 'PAYOUT_REQUESTED' and created_at < now() - make_interval(secs => ${options.stuckAfterS})
               and (swept_at is null or swept_at < now() - make_interval(secs => ${options.recheckS})))
           or (status = 'PAID' and paid_at < now() - make_interval(secs => ${options.returnWatchS})
               and paid_at > now() - make_interval(secs => ${options.returnHorizonS})
               -- looked up less often as the payout ages (every recheckS, or a 24th of its age):
               -- about 75 look-ups over a 60-day horizon instead of one per recheck interval
               and (swept_at is null or swept_at < now() - greatest(make_interval(secs => ${options.recheckS}), (now() - paid_at) / 24))))
       order by (status = 'PAYOUT_REQUESTED') desc, swept_at nulls first, created_at
       limit ${options.limit}
       for update skip locked)
    update payouts p set swept_at = now() from due where p.id = due.id
    returning p.id::text, p.seller_id, p.amount_minor::text, p.currency, p.status`);
  return rows.map((r) => ({ payoutId: r.id, sellerId: r.seller_id, amountMinor: r.amount_minor, currency: r.currency.trim(), status: r.status, reason: r.status === 'PAYOUT_REQUESTED' ? 'not-sent' : 'return-unwatched' }));
}
