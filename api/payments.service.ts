/**
 * The checkout command and the payment read model.
 *
 * Idempotency-Key semantics (scoped to the caller's JWT subject):
 * - the first request claims the key (a row IN_FLIGHT with a lease) and fixes the paymentId;
 * - a request with the same key while the first is in flight gets 409;
 * - a request with the same key and a different body gets 422;
 * - once completed (202 or 402), the same key replays the first response with
 *   `Idempotent-Replayed: true`;
 * - if the first request died in flight, its lease expires and the next request with the key
 *   takes it over with the same paymentId, so the PSP sees the same authorization key and the card
 *   is not held twice.
 * Concurrent requests with one key race on the primary key of `idempotency_keys`; exactly one
 * wins, so exactly one payment exists.
 *
 * Keys are kept for IDEMPOTENCY_KEY_RETENTION_S (default 7 days) after their first request; a key
 * reused after that is a new request (a new payment). A Temporal Schedule deletes expired keys
 * (temporal/schedules.ts); until it has, `claim` treats them as absent.
 */
import { createHash, randomUUID } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { isUniqueViolation } from '../db/errors';
import { idempotencyKeyExpired } from '../db/idempotency-keys';
import { idempotencyKeys, paymentOrders, payments } from '../db/schema';
import { moneyToJson, type MoneyJson } from '../domain/money';
import { derivePaymentStatus, type PaymentOrderStatus, type PaymentStatus } from '../domain/payment-status';
import type { Logger } from '../observability/logger';
import { PspUnavailableError, type PaymentServiceProvider } from '../psp/psp.port';
import type { OrderToStart } from '../temporal/payment-order-starter';
import type { Principal } from './auth';
import { ownedRows, type ReadAccess } from './ownership';
import { DEFAULT_PAYMENT_TOKEN, type CreatePaymentRequest } from './payment.validation';
import { Problem, problemType } from './problem';

export type HttpOutcome = { status: number; body: Record<string, unknown>; replayed: boolean; location?: string };

export type CreatePaymentCommand = {
  principal: Principal;
  idempotencyKey: string;
  body: CreatePaymentRequest;
  instance: string;
  traceId: string;
  traceparent?: string;
};

export type PaymentsServiceDeps = {
  db: Database;
  psp: PaymentServiceProvider;
  /** Starts PaymentOrder workflows after the commit (fast path; the relay is the safety net). */
  startOrders: (orders: OrderToStart[]) => Promise<unknown>;
  leaseMs: number;
  /** The platform's commission rate, fixed on each order at checkout. */
  commissionBps: number;
  /** IDEMPOTENCY_KEY_RETENTION_S: an older key is treated as absent. */
  retentionS: number;
  log: Logger;
  /** Fault injection for the durability test: kill the process right after the commit. */
  afterCommit?: () => void;
};

/** Key order must not change the hash: `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const requestHash = (body: unknown): string => createHash('sha256').update(canonicalJson(body)).digest('hex');


export function createPaymentsService(deps: PaymentsServiceDeps) {
  const { db } = deps;
  const keyWhere = (principal: string, key: string) => and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key));

  const replay = (row: { responseStatus: number | null; responseBody: unknown }): HttpOutcome => {
    const body = row.responseBody as Record<string, unknown>;
    return {
      status: row.responseStatus!,
      body,
      replayed: true,
      ...(row.responseStatus === 202 ? { location: `/api/v1/payments/${String(body.paymentId)}` } : {}),
    };
  };

  /** Claims the key or explains why not; returns the paymentId this request must use. */
  async function claim(principal: string, key: string, hash: string): Promise<{ paymentId: string } | { outcome: HttpOutcome }> {
    const fresh = randomUUID();
    const lockedUntil = sql`now() + make_interval(secs => ${deps.leaseMs / 1000})`;
    // A key past its retention is absent, whether or not the purge has deleted it yet: the row is
    // taken over as if new (new paymentId, new body). The conflict's WHERE makes that atomic - of
    // two requests racing for one expired key, the second sees the row already renewed.
    const inserted = await db
      .insert(idempotencyKeys)
      .values({ principal, key, requestHash: hash, status: 'IN_FLIGHT', paymentId: fresh, lockedUntil })
      .onConflictDoUpdate({
        target: [idempotencyKeys.principal, idempotencyKeys.key],
        set: { requestHash: hash, status: 'IN_FLIGHT', paymentId: fresh, responseStatus: null, responseBody: null, lockedUntil, createdAt: sql`now()`, completedAt: null },
        setWhere: idempotencyKeyExpired(deps.retentionS),
      })
      .returning({ paymentId: idempotencyKeys.paymentId });
    if (inserted.length === 1) return { paymentId: fresh };

    const [existing] = await db
      .select({ requestHash: idempotencyKeys.requestHash, status: idempotencyKeys.status, responseStatus: idempotencyKeys.responseStatus, responseBody: idempotencyKeys.responseBody, expired: sql<boolean>`${idempotencyKeys.lockedUntil} <= now()` })
      .from(idempotencyKeys)
      .where(keyWhere(principal, key));
    if (!existing) throw new Problem(409, 'idempotency-key-in-flight', 'Request in flight', 'A request with this Idempotency-Key is being processed; retry shortly.', {}, { 'Retry-After': '1' });
    if (existing.requestHash !== hash) {
      throw new Problem(422, 'idempotency-key-reused', 'Idempotency-Key reused', 'This Idempotency-Key was already used with a different request body.');
    }
    if (existing.status === 'COMPLETED') return { outcome: replay(existing) };
    if (existing.expired) {
      const [taken] = await db
        .update(idempotencyKeys)
        .set({ lockedUntil: sql`now() + make_interval(secs => ${deps.leaseMs / 1000})` })
        .where(and(keyWhere(principal, key), eq(idempotencyKeys.status, 'IN_FLIGHT'), sql`${idempotencyKeys.lockedUntil} <= now()`))
        .returning({ paymentId: idempotencyKeys.paymentId });
      if (taken) return { paymentId: taken.paymentId };
    }
    throw new Problem(409, 'idempotency-key-in-flight', 'Request in flight', 'A request with this Idempotency-Key is being processed; retry shortly.', {}, { 'Retry-After': '1' });
  }

  async function createPayment(cmd: CreatePaymentCommand): Promise<HttpOutcome> {
    const claimed = await claim(cmd.principal.subject, cmd.idempotencyKey, requestHash(cmd.body));
    if ('outcome' in claimed) return claimed.outcome;
    try {
      return await proceed(cmd, claimed.paymentId);
    } catch (err) {
      // Whatever failed (PSP, database, a bug), give the key back at once - keeping its paymentId
      // - so the client's retry proceeds instead of waiting out the lease. A completed key is
      // not touched.
      await db
        .update(idempotencyKeys)
        .set({ lockedUntil: sql`now()` })
        .where(and(keyWhere(cmd.principal.subject, cmd.idempotencyKey), eq(idempotencyKeys.status, 'IN_FLIGHT')))
        .catch(() => undefined);
      throw err;
    }
  }

  async function proceed(cmd: CreatePaymentCommand, paymentId: string): Promise<HttpOutcome> {
    const { principal, idempotencyKey, body } = cmd;

    const total = BigInt(body.totalAmount.quantity);
    const currency = body.totalAmount.currency;
    let authorization;
    try {
      authorization = await deps.psp.authorize({
        idempotencyKey: `auth:${paymentId}`,
        amountMinor: total,
        currency,
        token: body.paymentMethod?.token ?? DEFAULT_PAYMENT_TOKEN,
        reference: paymentId,
      });
    } catch (err) {
      if (err instanceof PspUnavailableError) {
        throw new Problem(503, 'dependency-unavailable', 'PSP unavailable', `The payment service provider could not be reached (${err.code}); nothing was charged. Retry with the same Idempotency-Key.`, {}, { 'Retry-After': '2' });
      }
      throw err;
    }

    const authorizationId = authorization.kind === 'approved' ? authorization.authorizationId : null;
    const authExpiresAt = authorization.kind === 'approved' && authorization.expiresAt ? new Date(authorization.expiresAt) : null;
    const declineReason = authorization.kind === 'declined' ? authorization.reason : null;
    const approved = authorizationId !== null;
    const paymentStatus: PaymentStatus = approved ? 'AUTHORIZED' : 'DECLINED';
    const orderStatus: PaymentOrderStatus = approved ? 'INITIATED_PENDING' : 'DECLINED';
    const orders = body.paymentOrders.map((o, position) => ({ id: randomUUID(), position, sellerId: o.sellerId, amountMinor: BigInt(o.amount.quantity), currency: o.amount.currency }));

    let outcome: HttpOutcome;
    let paymentCreatedAt = new Date();
    try {
      outcome = await db.transaction(async (tx) => {
        const [payment] = await tx
          .insert(payments)
          .values({
            id: paymentId,
            buyerId: body.buyerId,
            orderId: body.orderId,
            totalAmountMinor: total,
            currency,
            status: paymentStatus,
            pspAuthorizationId: authorizationId,
            authExpiresAt,
            declineReason,
            traceparent: cmd.traceparent ?? null,
          })
          .returning({ createdAt: payments.createdAt });
        paymentCreatedAt = payment!.createdAt;
        await tx.insert(paymentOrders).values(orders.map((o) => ({ id: o.id, paymentId, position: o.position, sellerId: o.sellerId, amountMinor: o.amountMinor, currency: o.currency, status: orderStatus, commissionBps: deps.commissionBps })));

        const result: HttpOutcome = approved
          ? {
              status: 202,
              replayed: false,
              location: `/api/v1/payments/${paymentId}`,
              body: {
                paymentId,
                status: paymentStatus,
                buyerId: body.buyerId,
                orderId: body.orderId,
                totalAmount: body.totalAmount,
                paymentOrders: orders.map((o) => ({ paymentOrderId: o.id, sellerId: o.sellerId, amount: moneyToJson(o), status: orderStatus })),
                createdAt: payment!.createdAt.toISOString(),
              },
            }
          : {
              status: 402,
              replayed: false,
              body: {
                type: problemType('payment-declined'),
                title: 'Payment declined',
                status: 402,
                detail: `The payment service provider declined the authorization: ${declineReason}.`,
                instance: cmd.instance,
                traceId: cmd.traceId,
                paymentId,
                declineReason,
              },
            };
        const completed = await tx
          .update(idempotencyKeys)
          .set({ status: 'COMPLETED', responseStatus: result.status, responseBody: result.body, completedAt: sql`now()` })
          .where(and(keyWhere(principal.subject, idempotencyKey), eq(idempotencyKeys.paymentId, paymentId), eq(idempotencyKeys.status, 'IN_FLIGHT')))
          .returning({ key: idempotencyKeys.key });
        if (completed.length !== 1) throw new Error(`idempotency record for ${paymentId} was completed by another request`);
        return result;
      });
    } catch (err) {
      // Our lease expired and a retry of the same key took over the same paymentId and won.
      if (isUniqueViolation(err) || (err instanceof Error && err.message.includes('completed by another request'))) {
        const [row] = await db.select({ status: idempotencyKeys.status, responseStatus: idempotencyKeys.responseStatus, responseBody: idempotencyKeys.responseBody }).from(idempotencyKeys).where(keyWhere(principal.subject, idempotencyKey));
        if (row?.status === 'COMPLETED') return replay(row);
        throw new Problem(409, 'idempotency-key-in-flight', 'Request in flight', 'A request with this Idempotency-Key is being processed; retry shortly.', {}, { 'Retry-After': '1' });
      }
      throw err;
    }

    deps.afterCommit?.();
    if (authorizationId !== null) {
      const toStart = orders.map((o) => ({ paymentOrderId: o.id, paymentId, sellerId: o.sellerId, amountMinor: o.amountMinor, currency: o.currency, pspAuthorizationId: authorizationId, authExpiresAt, createdAt: paymentCreatedAt, commissionBps: deps.commissionBps }));
      // Not awaited: the 202 does not wait for Temporal; the relay covers a failure here.
      deps.startOrders(toStart).catch((err: unknown) => deps.log.warn({ err, paymentId }, 'fast-path start failed; the relay will start the workflows'));
    }
    return outcome;
  }

  /**
   * The payment as `access` may see it (api/ownership.ts); `undefined` when it does not exist for
   * this reader. A seller's view holds only its own order, and every payment-level figure is
   * computed from what it sees - `totalAmount` is its share, `status` follows its order alone,
   * `updatedAt` is its order's - so nothing reveals other sellers' amounts or outcomes.
   */
  async function getPayment(paymentId: string, access: ReadAccess) {
    const [payment] = await db.select().from(payments).where(eq(payments.id, paymentId));
    if (!payment) return undefined;
    const allOrders = await db.select().from(paymentOrders).where(eq(paymentOrders.paymentId, paymentId)).orderBy(asc(paymentOrders.position));
    const orders = ownedRows(access, allOrders);
    if (!orders) return undefined;
    const seller = access.view === 'seller';
    const totalMinor = seller ? orders.reduce((sum, o) => sum + o.amountMinor, 0n) : payment.totalAmountMinor;
    const totalAmount: MoneyJson = moneyToJson({ amountMinor: totalMinor, currency: payment.currency });
    const status = seller ? derivePaymentStatus(orders.map((o) => o.status as PaymentOrderStatus)) : payment.status;
    const updatedAt = seller ? new Date(Math.max(payment.createdAt.getTime(), ...orders.map((o) => o.updatedAt.getTime()))) : payment.updatedAt;
    return {
      paymentId: payment.id,
      view: access.view,
      status,
      buyerId: payment.buyerId,
      orderId: payment.orderId,
      totalAmount,
      ...(payment.declineReason ? { declineReason: payment.declineReason } : {}),
      ...(payment.authExpiresAt ? { authorizationExpiresAt: payment.authExpiresAt.toISOString() } : {}),
      paymentOrders: orders.map((o) => ({
        paymentOrderId: o.id,
        sellerId: o.sellerId,
        amount: moneyToJson({ amountMinor: o.amountMinor, currency: o.currency }),
        status: o.status,
        captureAttempts: o.captureAttempts,
        lastPspError: o.lastPspError,
        pspCaptureId: o.pspCaptureId,
        updatedAt: o.updatedAt.toISOString(),
      })),
      createdAt: payment.createdAt.toISOString(),
      updatedAt: updatedAt.toISOString(),
    };
  }

  return { createPayment, getPayment };
}
