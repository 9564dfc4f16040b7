/**
 * Gauges about payments read from Postgres at scrape time (by the worker, next to the ledger
 * gauges), so an alert can say "payments are stuck" without asking Temporal: PaymentOrders and
 * refunds by status, the age of the oldest one in each non-final status, and the open orders
 * whose authorization lapses soon (captures stop shortly before it and the share is voided).
 *
 * One query per scrape, cached for a second and shared by every gauge below. The counts group
 * the whole tables by status (a sequential scan: cheap at this project's volumes; a partial index
 * on the open statuses would make it index-only when tables grow).
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { FINAL_ORDER_STATUSES, PAYMENT_ORDER_STATUSES, REFUND_STATUSES } from '../domain/payment-status';
import { snapshotGauges } from './snapshot-gauges';

export const OPEN_ORDER_STATUSES = PAYMENT_ORDER_STATUSES.filter((s) => !FINAL_ORDER_STATUSES.includes(s));
export const OPEN_REFUND_STATUSES = ['REFUND_REQUESTED'] as const;
/** Windows of the "authorization lapses within" gauge, in seconds. */
export const AUTH_EXPIRY_WINDOWS_S = [3_600, 86_400] as const;

type Snapshot = {
  orders: Map<string, { count: number; oldestAgeS: number }>;
  refunds: Map<string, { count: number; oldestAgeS: number }>;
  authExpiring: Map<number, number>;
  minAuthRemainingS: number;
};

const list = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(','));

export async function readPaymentSnapshot(db: Database): Promise<Snapshot> {
  const { rows } = await db.execute<{ kind: string; status: string; n: string; oldest_age_s: string | null }>(sql`
    select 'order' as kind, status, count(*)::text as n, extract(epoch from now() - min(created_at))::text as oldest_age_s from payment_orders group by status
    union all
    select 'refund', status, count(*)::text, extract(epoch from now() - min(created_at))::text from refunds group by status
    union all
    select 'auth-' || w::text, '', count(*) filter (where p.auth_expires_at < now() + make_interval(secs => w))::text, extract(epoch from min(p.auth_expires_at) - now())::text
      from payment_orders po join payments p on p.id = po.payment_id
      cross join unnest(array[${sql.raw(AUTH_EXPIRY_WINDOWS_S.join(','))}]) as w
     where po.status in (${list(OPEN_ORDER_STATUSES)}) and p.auth_expires_at is not null
     group by w`);
  const snapshot: Snapshot = { orders: new Map(), refunds: new Map(), authExpiring: new Map(), minAuthRemainingS: Number.NaN };
  for (const r of rows) {
    const value = { count: Number(r.n), oldestAgeS: r.oldest_age_s === null ? 0 : Math.max(0, Number(r.oldest_age_s)) };
    if (r.kind === 'order') snapshot.orders.set(r.status, value);
    else if (r.kind === 'refund') snapshot.refunds.set(r.status, value);
    else {
      snapshot.authExpiring.set(Number(r.kind.slice('auth-'.length)), Number(r.n));
      if (r.oldest_age_s !== null) snapshot.minAuthRemainingS = Number(r.oldest_age_s);
    }
  }
  return snapshot;
}

export function registerPaymentGauges(db: Database): void {
  // Postgres unreachable: no samples (absent() alerts), never stale values.
  const { labelled: gauge } = snapshotGauges(() => readPaymentSnapshot(db));
  gauge('payorch_payment_orders', 'PaymentOrders in Postgres by status', ['status'], (g, s) => {
    for (const status of PAYMENT_ORDER_STATUSES) g.set({ status }, s.orders.get(status)?.count ?? 0);
  });
  gauge('payorch_payment_orders_oldest_age_seconds', 'Age (since creation) of the oldest PaymentOrder in each non-final status (0: none)', ['status'], (g, s) => {
    for (const status of OPEN_ORDER_STATUSES) g.set({ status }, s.orders.get(status)?.oldestAgeS ?? 0);
  });
  gauge('payorch_refunds', 'Refunds in Postgres by status', ['status'], (g, s) => {
    for (const status of REFUND_STATUSES) g.set({ status }, s.refunds.get(status)?.count ?? 0);
  });
  gauge('payorch_refunds_oldest_age_seconds', 'Age (since creation) of the oldest refund in each non-final status (0: none)', ['status'], (g, s) => {
    for (const status of OPEN_REFUND_STATUSES) g.set({ status }, s.refunds.get(status)?.oldestAgeS ?? 0);
  });
  gauge('payorch_open_payment_orders_auth_expiring', "Non-final PaymentOrders whose payment's authorization lapses within `within_seconds` (or has lapsed)", ['within_seconds'], (g, s) => {
    for (const w of AUTH_EXPIRY_WINDOWS_S) g.set({ within_seconds: String(w) }, s.authExpiring.get(w) ?? 0);
  });
  gauge('payorch_open_payment_orders_min_auth_remaining_seconds', 'Seconds until the soonest authorization of a non-final PaymentOrder lapses (negative: lapsed; absent: no open order)', [], (g, s) => {
    if (!Number.isNaN(s.minAuthRemainingS)) g.set(s.minAuthRemainingS);
  });
}
