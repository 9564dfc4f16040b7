/**
 * Names and payload shapes shared by workflows, activities and clients: workflow ids, signals,
 * queries and search attribute keys, each defined once. Amounts in payloads are decimal strings
 * (Temporal's default converter cannot carry BigInt); they are parsed at the edges.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BackoffPolicy } from '../domain/backoff';
import type { PaymentOrderStatus, RefundStatus } from '../domain/payment-status';
import type { EntryType } from '../ledger/journal';

/** PaymentOrderInput.captureModel of this version (see there). */
export const CAPTURE_BOUNDED_BY_AUTHORIZATION = 'bounded-by-authorization';
/** PaymentOrderInput.captureRecording of this version (see there). */
export const CAPTURE_RECORDED_BY_ACTIVITY = 'by-capture-activity';
/** SellerLedgerInput.journal of this version (see there). */
export const LEDGER_FACTS_IN_POSTGRES = 'facts-in-postgres';

export const paymentOrderWorkflowId = (paymentOrderId: string): string => `payment-order:${paymentOrderId}`;
export const sellerLedgerWorkflowId = (sellerId: string): string => `seller-ledger:${sellerId}`;
export const refundWorkflowId = (refundId: string): string => `refund:${refundId}`;

export const SA_PAYMENT_ORDER_STATUS = defineSearchAttributeKey('PaymentOrderStatus', SearchAttributeType.KEYWORD);
export const SA_SELLER_ID = defineSearchAttributeKey('SellerId', SearchAttributeType.KEYWORD);
export const SA_PAYMENT_ID = defineSearchAttributeKey('PaymentId', SearchAttributeType.KEYWORD);
export const SA_CAPTURE_ATTEMPTS = defineSearchAttributeKey('CaptureAttempts', SearchAttributeType.INT);
export const SA_LAST_PSP_ERROR_CODE = defineSearchAttributeKey('LastPspErrorCode', SearchAttributeType.KEYWORD);
/** When the order's authorization lapses at the PSP; captures retry until shortly before it. */
export const SA_AUTH_EXPIRES_AT = defineSearchAttributeKey('AuthExpiresAt', SearchAttributeType.DATETIME);
/** A refund workflow's status (refunds also carry SellerId, PaymentId, LastPspErrorCode). */
export const SA_REFUND_STATUS = defineSearchAttributeKey('RefundStatus', SearchAttributeType.KEYWORD);
/** A payout run's outcome(s): PAID, FAILED, RETURNED (comma-separated per currency), or NOTHING_AVAILABLE; payout runs also carry SellerId. */
export const SA_PAYOUT_STATUS = defineSearchAttributeKey('PayoutStatus', SearchAttributeType.KEYWORD);
export const ALL_SEARCH_ATTRIBUTES = [SA_PAYMENT_ORDER_STATUS, SA_SELLER_ID, SA_PAYMENT_ID, SA_CAPTURE_ATTEMPTS, SA_LAST_PSP_ERROR_CODE, SA_AUTH_EXPIRES_AT, SA_REFUND_STATUS, SA_PAYOUT_STATUS];

export type PspError = { code: string; message: string };

/** A PaymentOrder's status search attributes (every transition of the current and legacy code upserts these). */
export const paymentOrderStatusAttributes = (to: PaymentOrderStatus, attempts: number, lastPspError: PspError | null) => [
  { key: SA_PAYMENT_ORDER_STATUS, value: to },
  { key: SA_CAPTURE_ATTEMPTS, value: attempts },
  { key: SA_LAST_PSP_ERROR_CODE, value: lastPspError?.code ?? null },
];

export type PaymentOrderInput = {
  paymentOrderId: string;
  paymentId: string;
  sellerId: string;
  amountMinor: string;
  currency: string;
  pspAuthorizationId: string;
  /**
   * Fixed when the workflow starts, so a configuration change never alters a running payment's
   * replay. `attemptsMax` is read only by workflows started before captures were bounded by time.
   */
  backoff: BackoffPolicy;
  /** Commission rate applied to this order's CAPTURE entry. */
  commissionBps: number;
  /**
   * How the AUTH_HOLD fact reaches the ledger: 'with-first-outcome' sends it in the same signal
   * as the first capture outcome; absent (workflows started before this field existed) sends it
   * alone at CAPTURE_REQUESTED. An input field rather than `patched()`, which would add a marker
   * and a search-attribute upsert to every PaymentOrder (docs/performance.md).
   */
  ledgerHold?: 'with-first-outcome';
  /**
   * 'bounded-by-authorization' (set by every starter of this version): captures retry until the
   * authorization's expiry, unknown outcomes are looked up, failures go through a void. Absent:
   * a workflow started by the previous version, which finishes on its code
   * (workflows/payment-order.legacy.ts). An input field rather than `patched()`, which would add a
   * marker and a `TemporalChangeVersion` upsert to every PaymentOrder (docs/performance.md).
   */
  captureModel?: typeof CAPTURE_BOUNDED_BY_AUTHORIZATION;
  /**
   * When the authorization lapses at the PSP (ISO 8601). Captures keep retrying until
   * `authExpiresAt - captureSafetyMarginMs`; then the order's share is voided. Present on every
   * workflow started since captures are bounded by time rather than by a count.
   */
  authExpiresAt?: string;
  captureSafetyMarginMs?: number;
  /**
   * 'by-capture-activity' (set by every starter of this version): a capture the PSP confirms is
   * recorded - CAPTURED, its ledger facts and merchant event, one transaction - by the capture
   * activity itself, the moment the PSP answers, so the happy path has no separate step (one
   * local activity and its marker fewer per order, docs/performance.md). If that recording fails
   * the workflow records it in a step as before. Absent: workflows started before this field
   * existed record every outcome in a step. An input field rather than `patched()`, for the same
   * reason as `captureModel`.
   */
  captureRecording?: typeof CAPTURE_RECORDED_BY_ACTIVITY;
  /** State handed over by continue-as-new (a capture that retries for days keeps its history short). */
  resume?: PaymentOrderResume;
};

export type PaymentOrderResume = { status: PaymentOrderStatus; attempts: number; lastPspError: PspError | null; unknownOutcomes: number; holdReported: boolean; cancelRequested?: boolean };

export type PaymentOrderView = {
  paymentOrderId: string;
  status: PaymentOrderStatus;
  attempts: number;
  lastPspError: PspError | null;
  /** The jittered delays waited so far, one per retry (the last 20, in this run). */
  retryDelaysMs: number[];
  /** Capture outcomes that were unknown (timeouts, lost connections), each resolved by a lookup or a retry. */
  unknownOutcomes?: number;
  pspCaptureId?: string;
  authExpiresAt?: string;
  /** After this instant no capture is attempted; the order's share is voided instead. */
  captureDeadline?: string;
  /** When the next PSP call is due, while waiting between attempts. */
  nextAttemptAt?: string | null;
};

export const paymentOrderStateQuery = defineQuery<PaymentOrderView>('paymentOrderState');

/**
 * "The payment is being cancelled": the order stops retrying and voids its share instead of
 * capturing, unless the PSP captured it first. Carries nothing: Postgres records the request
 * (`cancel_requested_at`), and every step of the workflow reads it back, so a lost signal is
 * caught at the next step.
 */
export const cancelPaymentOrderSignal = defineSignal<[]>('cancelPaymentOrder');

export type RefundInput = {
  refundId: string;
  paymentId: string;
  paymentOrderId: string;
  sellerId: string;
  amountMinor: string;
  currency: string;
  /** The PSP's id of the capture refunded. */
  pspCaptureId: string;
  backoff: BackoffPolicy;
  /** How long refund attempts go on before a refund the PSP definitively did not make is failed. */
  retryWindowMs: number;
  resume?: { attempts: number; lastPspError: PspError | null; unknownOutcomes: number; deadlineMs: number; lastAttemptMs: number };
};

export type RefundView = {
  refundId: string;
  status: RefundStatus;
  attempts: number;
  lastPspError: PspError | null;
  unknownOutcomes: number;
  pspRefundId?: string;
  nextAttemptAt: string | null;
  retryDeadline: string;
};

export const refundStateQuery = defineQuery<RefundView>('refundState');

/** A ledger fact as it travels in a signal. */
export type LedgerFactPayload = {
  entryType: EntryType;
  /** Null for money-out facts (SETTLEMENT, PAYOUT, PAYOUT_RETURN, ADJUSTMENT). */
  paymentOrderId: string | null;
  paymentId: string | null;
  sellerId: string;
  amountMinor: string;
  currency: string;
  commissionBps: number;
  /** Facts about the entry that are not postings, e.g. `{ pspCaptureId }` of a CAPTURE. */
  metadata?: Record<string, string>;
  /** A REFUND's context (amounts as decimal strings): see ledger/journal.ts. */
  refund?: { refundId: string; capturedMinor: string; refundedBeforeMinor: string };
  /** A money-out fact's subject (see ledger/journal.ts `LedgerFact.subject`); amounts as decimal strings. */
  subject?: LedgerFactSubject;
  /** The W3C traceparent of the payment, so the ledger's event continues its trace. */
  traceparent?: string;
};

export type LedgerFactSubject = { subjectId: string; feeMinor?: string; direction?: 'DEBIT' | 'CREDIT'; debitAccount?: string; creditAccount?: string };

export type SellerLedgerSettings = {
  batchMaxItems: number;
  batchMaxWaitMs: number;
  historyEventsMax: number;
  /** Cap of the jittered wait between publication attempts while Kafka is unreachable (default 30 s). */
  publishRetryCapMs?: number;
};

export type SellerLedgerInput = {
  sellerId: string;
  settings: SellerLedgerSettings;
  /**
   * 'facts-in-postgres' (every start and continue-as-new of this version): the ledger journals
   * what Postgres holds. Absent: a run of the previous version, which hands over to this one
   * (workflows/seller-ledger.legacy.ts). An input field rather than `patched()` for the same
   * reason as PaymentOrderInput.captureModel.
   */
  journal?: typeof LEDGER_FACTS_IN_POSTGRES;
  /**
   * Facts a run of the old ledger (which kept facts in its state) had not committed; the first run
   * of the current code writes them to Postgres. Current runs carry nothing.
   */
  carried?: LedgerFactPayload[];
};

export type SellerLedgerView = {
  sellerId: string;
  /** Facts held in this run's memory: only ever non-zero in runs of the old ledger. */
  pending: number;
  batchesCommitted: number;
  factsCommitted: number;
  /** Batches committed but not yet acknowledged by Kafka (true while Kafka is unreachable). */
  unpublished?: boolean;
  publishFailures?: number;
  lastPublishError?: string | null;
  nextPublishAttemptAt?: string | null;
};

/** "Postgres holds facts for you": what PaymentOrders and the sweeper send. Carries nothing. */
export const ledgerWakeSignal = defineSignal<[]>('ledgerWake');
/** Old form: facts in the signal itself (workflows and workers of the version before facts lived in Postgres). */
export const ledgerFactSignal = defineSignal<[LedgerFactPayload]>('ledgerFact');
/** Old form: several facts of one seller in one signal. */
export const ledgerFactsSignal = defineSignal<[LedgerFactPayload[]]>('ledgerFacts');
export const sellerLedgerStateQuery = defineQuery<SellerLedgerView>('sellerLedgerState');
