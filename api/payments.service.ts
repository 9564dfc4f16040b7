/**
 * The checkout command and the payment read model. Idempotency-Key semantics are those of
 * api/idempotency.ts; for a checkout the key fixes the new payment's id before the PSP is called,
 * so a retried checkout reuses the same authorization key and the card is not held twice.
 */
import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { paymentOrders, payments, refunds } from '../db/schema';
import { moneyToJson, type MoneyJson } from '../domain/money';
import { derivePaymentStatus, type PaymentOrderStatus, type PaymentStatus } from '../domain/payment-status';
import type { Logger } from '../observability/logger';
import { PspUnavailableError, type PaymentServiceProvider } from '../psp/psp.port';
import type { OrderToStart } from '../temporal/payment-order-starter';
import type { Principal } from './auth';
import { ownedRows, type ReadAccess } from './ownership';
import { DEFAULT_PAYMENT_TOKEN, type CreatePaymentRequest } from './payment.validation';
import { createIdempotency, requestHash, type HttpOutcome, type IdempotentCommand } from './idempotency';
import { Problem, problemType } from './problem';
import { refundJson } from './refunds.service';

export { canonicalJson, requestHash, type HttpOutcome } from './idempotency';

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

export function createPaymentsService(deps: PaymentsServiceDeps) {
  const { db } = deps;
  const idempotency = createIdempotency({ db, leaseMs: deps.leaseMs, retentionS: deps.retentionS });
  const locationOf = (status: number, body: Record<string, unknown>) => (status === 202 ? `/api/v1/payments/${String(body.paymentId)}` : undefined);

  async function createPayment(cmd: CreatePaymentCommand): Promise<HttpOutcome> {
    const command = { principal: cmd.principal.subject, key: cmd.idempotencyKey, hash: requestHash(cmd.body), paymentId: randomUUID(), locationOf, onFailure: 'keep' as const };
    return idempotency.run(command, (paymentId) => proceed(cmd, paymentId, command));
  }

  async function proceed(cmd: CreatePaymentCommand, paymentId: string, command: IdempotentCommand): Promise<HttpOutcome> {
    const { body } = cmd;

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

    let paymentCreatedAt = new Date();
    const outcome = await db.transaction(async (tx) => {
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
      await idempotency.complete(tx, command, paymentId, result);
      return result;
    });

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
    const allRefunds = await db.select().from(refunds).where(eq(refunds.paymentId, paymentId)).orderBy(asc(refunds.createdAt));
    const orders = ownedRows(access, allOrders);
    if (!orders) return undefined;
    const seller = access.view === 'seller';
    const totalMinor = seller ? orders.reduce((sum, o) => sum + o.amountMinor, 0n) : payment.totalAmountMinor;
    const totalAmount: MoneyJson = moneyToJson({ amountMinor: totalMinor, currency: payment.currency });
    const status = seller ? derivePaymentStatus(orders.map((o) => ({ status: o.status as PaymentOrderStatus, amountMinor: o.amountMinor, refundedMinor: o.refundedMinor }))) : payment.status;
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
        refundedAmount: moneyToJson({ amountMinor: o.refundedMinor, currency: o.currency }),
        refundableAmount: moneyToJson({ amountMinor: o.status === 'CAPTURED' ? o.amountMinor - o.refundReservedMinor : 0n, currency: o.currency }),
        refunds: allRefunds.filter((r) => r.paymentOrderId === o.id).map(refundJson),
        ...(o.cancelRequestedAt ? { cancelRequestedAt: o.cancelRequestedAt.toISOString() } : {}),
        updatedAt: o.updatedAt.toISOString(),
      })),
      createdAt: payment.createdAt.toISOString(),
      updatedAt: updatedAt.toISOString(),
    };
  }

  return { createPayment, getPayment };
}
