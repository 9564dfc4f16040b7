/**
 * Names and payload shapes shared by workflows, activities and clients: workflow ids, signals,
 * queries and search attribute keys, each defined once. Amounts in payloads are decimal strings
 * (Temporal's default converter cannot carry BigInt); they are parsed at the edges.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BackoffPolicy } from '../domain/backoff';
import type { PaymentOrderStatus } from '../domain/payment-status';
import type { EntryType } from '../ledger/journal';

export const paymentOrderWorkflowId = (paymentOrderId: string): string => `payment-order:${paymentOrderId}`;
export const sellerLedgerWorkflowId = (sellerId: string): string => `seller-ledger:${sellerId}`;

export const SA_PAYMENT_ORDER_STATUS = defineSearchAttributeKey('PaymentOrderStatus', SearchAttributeType.KEYWORD);
export const SA_SELLER_ID = defineSearchAttributeKey('SellerId', SearchAttributeType.KEYWORD);
export const SA_PAYMENT_ID = defineSearchAttributeKey('PaymentId', SearchAttributeType.KEYWORD);
export const SA_CAPTURE_ATTEMPTS = defineSearchAttributeKey('CaptureAttempts', SearchAttributeType.INT);
export const SA_LAST_PSP_ERROR_CODE = defineSearchAttributeKey('LastPspErrorCode', SearchAttributeType.KEYWORD);
export const ALL_SEARCH_ATTRIBUTES = [SA_PAYMENT_ORDER_STATUS, SA_SELLER_ID, SA_PAYMENT_ID, SA_CAPTURE_ATTEMPTS, SA_LAST_PSP_ERROR_CODE];

export type PspError = { code: string; message: string };

export type PaymentOrderInput = {
  paymentOrderId: string;
  paymentId: string;
  sellerId: string;
  amountMinor: string;
  currency: string;
  pspAuthorizationId: string;
  /** Fixed when the workflow starts, so a configuration change never alters a running payment's replay. */
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
};

export type PaymentOrderView = {
  paymentOrderId: string;
  status: PaymentOrderStatus;
  attempts: number;
  lastPspError: PspError | null;
  /** The jittered delays waited so far, one per retry. */
  retryDelaysMs: number[];
};

export const paymentOrderStateQuery = defineQuery<PaymentOrderView>('paymentOrderState');

/** A ledger fact as it travels in a signal. */
export type LedgerFactPayload = {
  entryType: EntryType;
  paymentOrderId: string;
  paymentId: string;
  sellerId: string;
  amountMinor: string;
  currency: string;
  commissionBps: number;
  /** The W3C traceparent of the payment, so the ledger's event continues its trace. */
  traceparent?: string;
};

export type SellerLedgerSettings = { batchMaxItems: number; batchMaxWaitMs: number; historyEventsMax: number };

export type SellerLedgerInput = {
  sellerId: string;
  settings: SellerLedgerSettings;
  /** Facts received but not yet committed by the previous run (continue-as-new). */
  carried?: LedgerFactPayload[];
};

export type SellerLedgerView = { sellerId: string; pending: number; batchesCommitted: number; factsCommitted: number };

/** One fact a signal: what workflows started before `ledgerFacts` existed still send. */
export const ledgerFactSignal = defineSignal<[LedgerFactPayload]>('ledgerFact');
/** Several facts of one seller in one signal (a PaymentOrder's hold and its first outcome). */
export const ledgerFactsSignal = defineSignal<[LedgerFactPayload[]]>('ledgerFacts');
export const sellerLedgerStateQuery = defineQuery<SellerLedgerView>('sellerLedgerState');
