/**
 * What every benchmark does against the running stack, written once: its bearer token, the
 * checkout request body, a seller's balance through the API, and whether a set of payments has
 * settled (every payment final, every order's two journal entries committed).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Config } from '../config/config';
import { uuidArray, type Database } from '../db/client';
import { signDevToken } from '../scripts/dev-token';

/**
 * `Bearer <JWT>` for a benchmark's client, valid for the whole run: the API refuses tokens that
 * live longer than AUTH_TOKEN_MAX_LIFETIME_S, so a fresh one is signed every half lifetime (the
 * timer does not keep the process alive). Read `.authorization` at each request.
 */
export async function benchBearer(config: Config, subject: string, scope: string): Promise<{ readonly authorization: string }> {
  const sign = async () => `Bearer ${await signDevToken({ secret: config.AUTH_DEV_SECRET!, issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, subject, scope, ttlSeconds: config.AUTH_TOKEN_MAX_LIFETIME_S })}`;
  let current = await sign();
  setInterval(() => {
    sign().then(
      (next) => (current = next),
      (err: unknown) => process.stderr.write(`bench: could not sign a fresh token: ${String(err)}\n`),
    );
  }, (config.AUTH_TOKEN_MAX_LIFETIME_S * 1_000) / 2).unref();
  return {
    get authorization() {
      return current;
    },
  };
}

export type BenchOrder = { sellerId: string; quantity: number };

/** A checkout of `orders` in EUR, total = sum of the orders, paid with `token`. */
export function checkoutBody(orders: readonly BenchOrder[], options: { buyerId?: string; token?: string } = {}): string {
  return JSON.stringify({
    buyerId: options.buyerId ?? 'bench',
    orderId: randomUUID(),
    totalAmount: { quantity: orders.reduce((sum, o) => sum + o.quantity, 0), currency: 'EUR' },
    paymentOrders: orders.map((o) => ({ sellerId: o.sellerId, amount: { quantity: o.quantity, currency: 'EUR' } })),
    paymentMethod: { token: options.token ?? 'tok_visa' },
  });
}

/** A seller's EUR balance from `GET /api/v1/sellers/{id}/balance` (0 when it has none yet). */
export async function sellerBalance(apiBaseUrl: string, authorization: string, sellerId: string): Promise<bigint> {
  const res = await fetch(`${apiBaseUrl}/api/v1/sellers/${encodeURIComponent(sellerId)}/balance`, { headers: { authorization } });
  const body = (await res.json()) as { balances: Array<{ balance: { quantity: number; currency: string } }> };
  return BigInt(body.balances.find((b) => b.balance.currency === 'EUR')?.balance.quantity ?? 0);
}

/**
 * Payments still AUTHORIZED, and what the ledger still lacks for them: orders without both journal
 * entries (hold + capture or release, looked up by their deterministic ids - the primary key) and
 * REFUNDED refunds without their REFUND entry.
 */
export async function settlement(db: Database, paymentIds: readonly string[]): Promise<{ open: number; missing: number }> {
  const ids = uuidArray([...paymentIds]);
  const row = (
    await db.execute<{ open: number; missing: number }>(sql`
      select (select count(*) from payments where id = any(${ids}) and status = 'AUTHORIZED')::int as open,
             ((select count(*) from payment_orders po where po.payment_id = any(${ids})
                and (select count(*) from journal_entries je
                      where je.id in ('AUTH_HOLD:' || po.id, 'CAPTURE:' || po.id, 'AUTH_RELEASE:' || po.id)) < 2)
            + (select count(*) from refunds r where r.payment_id = any(${ids}) and r.status = 'REFUNDED'
                and not exists (select 1 from journal_entries je where je.id = 'REFUND:' || r.id::text)))::int as missing`)
  ).rows[0]!;
  return row;
}

/** PSP refusals that end a capture for good; any other last error on a failed order is a lost sale. */
const DEFINITIVE_CAPTURE_REFUSALS = new Set(['CAPTURE_REJECTED', 'AUTHORIZATION_EXPIRED', 'AUTHORIZATION_VOIDED', 'AMOUNT_EXCEEDS_AUTHORIZATION', 'CURRENCY_MISMATCH', 'UNKNOWN_AUTHORIZATION']);

export type PspComparison = {
  orders: number;
  captured: number;
  /** Orders the PSP captured more than once. */
  doubled: number;
  /** Orders where our status and the PSP's capture log disagree (captured at the PSP ⇔ CAPTURED here). */
  disagreements: number;
  /** CAPTURED orders whose stored capture id is not the PSP's. */
  captureIdMismatches: number;
  /** CAPTURE_FAILED orders whose last error was not a definitive refusal (a lost sale). */
  failedRetryable: number;
  examples: string[];
  /** Captures per order at the PSP, and when the first happened. */
  capturesPerOrder: Map<string, { count: number; firstAt: number }>;
};

/**
 * Compares our records with the PSP's own capture log, order by order: the gate of every fault
 * and benchmark run (a ledger consistent with itself can still disagree with the PSP).
 */
export async function compareWithPsp(db: Database, pspBaseUrl: string, paymentIds: readonly string[]): Promise<PspComparison> {
  const orders = (await db.execute<{ id: string; status: string; psp_capture_id: string | null; last_psp_error: string | null }>(
    sql`select id, status, psp_capture_id, last_psp_error from payment_orders where payment_id = any(${uuidArray([...paymentIds])})`,
  )).rows;
  const log = ((await (await fetch(`${pspBaseUrl}/v1/captures/log`)).json()) as { captures: Array<{ reference: string; captureId: string; at: string }> }).captures;
  const ids = new Set(orders.map((o) => o.id));
  const capturesPerOrder = new Map<string, { count: number; firstAt: number }>();
  const captureIdOf = new Map<string, string>();
  for (const c of log) {
    if (!ids.has(c.reference)) continue;
    const seen = capturesPerOrder.get(c.reference);
    capturesPerOrder.set(c.reference, { count: (seen?.count ?? 0) + 1, firstAt: seen?.firstAt ?? Date.parse(c.at) });
    if (!captureIdOf.has(c.reference)) captureIdOf.set(c.reference, c.captureId);
  }
  const examples: string[] = [];
  let disagreements = 0;
  let captureIdMismatches = 0;
  let failedRetryable = 0;
  for (const o of orders) {
    const atPsp = capturesPerOrder.has(o.id);
    if (atPsp !== (o.status === 'CAPTURED')) {
      disagreements += 1;
      if (examples.length < 5) examples.push(`${o.id}: ${o.status} here, ${atPsp ? 'captured' : 'not captured'} at the PSP`);
    }
    if (o.status === 'CAPTURED' && o.psp_capture_id !== null && atPsp && o.psp_capture_id !== captureIdOf.get(o.id)) captureIdMismatches += 1;
    const code = o.last_psp_error?.split(':')[0] ?? '';
    if (o.status === 'CAPTURE_FAILED' && !DEFINITIVE_CAPTURE_REFUSALS.has(code)) {
      failedRetryable += 1;
      if (examples.length < 5) examples.push(`${o.id}: CAPTURE_FAILED with ${code || 'no error'}`);
    }
  }
  return {
    orders: orders.length,
    captured: orders.filter((o) => o.status === 'CAPTURED').length,
    doubled: [...capturesPerOrder.values()].filter((c) => c.count > 1).length,
    disagreements,
    captureIdMismatches,
    failedRetryable,
    examples,
    capturesPerOrder,
  };
}

/**
 * Refunds in a load mix: while the load runs, a share of the accepted payments get a refund of
 * half their first order once it is captured, sent like a careful client (one Idempotency-Key per
 * refund, retried on 409, 503 and connection errors). `stop` waits (bounded) for the last requests
 * and returns the refund ids accepted.
 */
export function startRefunder(options: { apiBaseUrl: string; bearer: { readonly authorization: string }; share: number; accepted: readonly string[] }): { stop: (timeoutMs: number) => Promise<string[]> } {
  const refunds: string[] = [];
  const tried = new Set<string>();
  const waiting = new Map<string, { key: string; since: number }>();
  let stopping = false;
  const picked = (paymentId: string) => parseInt(paymentId.slice(0, 8), 16) / 0xffffffff < options.share;
  const attempt = async (paymentId: string, key: string): Promise<'done' | 'later'> => {
    try {
      const res = await fetch(`${options.apiBaseUrl}/api/v1/payments/${paymentId}`, { headers: { authorization: options.bearer.authorization }, signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) return 'later';
      const order = ((await res.json()) as { paymentOrders: Array<{ paymentOrderId: string; status: string; amount: { quantity: number; currency: string } }> }).paymentOrders[0]!;
      if (order.status !== 'CAPTURED') return ['CAPTURE_FAILED', 'VOIDED', 'DECLINED'].includes(order.status) ? 'done' : 'later';
      const refund = await fetch(`${options.apiBaseUrl}/api/v1/payments/${paymentId}/refunds`, {
        method: 'POST',
        headers: { authorization: options.bearer.authorization, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ paymentOrderId: order.paymentOrderId, amount: { quantity: Math.max(1, Math.floor(order.amount.quantity / 2)), currency: order.amount.currency } }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await refund.json()) as { refundId?: string };
      if (refund.status === 202 && body.refundId) {
        refunds.push(body.refundId);
        return 'done';
      }
      return refund.status === 409 || refund.status === 503 || refund.status === 429 ? 'later' : 'done';
    } catch {
      return 'later'; // the API is down or slow: retry with the same key
    }
  };
  const loop = (async () => {
    while (!stopping || waiting.size > 0) {
      for (const id of options.accepted) {
        if (!tried.has(id)) {
          tried.add(id);
          if (picked(id)) waiting.set(id, { key: randomUUID(), since: Date.now() });
        }
      }
      await Promise.all([...waiting].map(async ([id, w]) => {
        if ((await attempt(id, w.key)) === 'done') waiting.delete(id);
      }));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async (timeoutMs: number) => {
      stopping = true;
      await Promise.race([loop, new Promise((r) => setTimeout(r, timeoutMs))]);
      waiting.clear();
      return [...refunds];
    },
  };
}

export type RefundComparison = { refunds: number; open: number; refunded: number; doubled: number; disagreements: number; examples: string[] };

/** Our refunds against the PSP's refund log, refund by refund (REFUNDED here ⇔ refunded there, once). */
export async function compareRefundsWithPsp(db: Database, pspBaseUrl: string, refundIds: readonly string[]): Promise<RefundComparison> {
  if (refundIds.length === 0) return { refunds: 0, open: 0, refunded: 0, doubled: 0, disagreements: 0, examples: [] };
  const rows = (await db.execute<{ id: string; status: string }>(sql`select id, status from refunds where id = any(${uuidArray([...refundIds])})`)).rows;
  const log = ((await (await fetch(`${pspBaseUrl}/v1/refunds/log`)).json()) as { refunds: Array<{ reference: string }> }).refunds;
  const atPsp = new Map<string, number>();
  for (const r of log) atPsp.set(r.reference, (atPsp.get(r.reference) ?? 0) + 1);
  const examples: string[] = [];
  let disagreements = 0;
  for (const r of rows) {
    if (r.status === 'REFUND_REQUESTED') continue;
    if ((r.status === 'REFUNDED') !== atPsp.has(r.id)) {
      disagreements += 1;
      if (examples.length < 5) examples.push(`refund ${r.id}: ${r.status} here, ${atPsp.has(r.id) ? 'refunded' : 'not refunded'} at the PSP`);
    }
  }
  return {
    refunds: rows.length,
    open: rows.filter((r) => r.status === 'REFUND_REQUESTED').length,
    refunded: rows.filter((r) => r.status === 'REFUNDED').length,
    doubled: rows.filter((r) => (atPsp.get(r.id) ?? 0) > 1).length,
    disagreements,
    examples,
  };
}
