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
 * Payments still AUTHORIZED, and orders without both journal entries (hold + capture or release),
 * looked up by their deterministic ids (the primary key: journal_entries has no index by order).
 */
export async function settlement(db: Database, paymentIds: readonly string[]): Promise<{ open: number; missing: number }> {
  const ids = uuidArray([...paymentIds]);
  const row = (
    await db.execute<{ open: number; missing: number }>(sql`
      select (select count(*) from payments where id = any(${ids}) and status = 'AUTHORIZED')::int as open,
             (select count(*) from payment_orders po where po.payment_id = any(${ids})
                and (select count(*) from journal_entries je
                      where je.id in ('AUTH_HOLD:' || po.id, 'CAPTURE:' || po.id, 'AUTH_RELEASE:' || po.id)) < 2)::int as missing`)
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
