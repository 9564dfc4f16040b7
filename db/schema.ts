/**
 * The relational model. Invariants live here as constraints, not only in code: amounts are
 * positive integers of minor units, statuses are closed sets, a seller appears once per payment,
 * a journal entry id is unique, and postings are append-only (see the custom migration that adds
 * the triggers).
 */
import { sql } from 'drizzle-orm';
import { PAYMENT_ORDER_STATUSES, PAYMENT_STATUSES, REFUND_STATUSES } from '../domain/payment-status';
import { ENTRY_TYPES, SUBJECT_ENTRY_TYPES } from '../ledger/journal';
import { MISMATCH_KINDS, PAYOUT_STATUSES } from '../domain/money-out';
import { MERCHANT_EVENT_TYPES } from '../domain/merchant-event-types';
import { WEBHOOK_ATTEMPT_OUTCOMES, WEBHOOK_DELIVERY_STATUSES, WEBHOOK_ENDPOINT_STATUSES } from '../domain/webhooks';

/** `col in ('A','B',...)` from one of the closed lists (the lists are ours, never user input). */
const oneOf = (list: readonly string[]) => sql.raw(`(${list.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')})`);
import {
  bigint,
  bigserial,
  boolean,
  char,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const currency = () => char('currency', { length: 3 }).notNull();

export const payments = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey(),
    buyerId: text('buyer_id').notNull(),
    orderId: text('order_id').notNull(),
    totalAmountMinor: bigint('total_amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    status: text('status').notNull(),
    pspAuthorizationId: text('psp_authorization_id'),
    /** When the PSP's authorization lapses (it reports it); captures retry until shortly before. */
    authExpiresAt: timestamp('auth_expires_at', { withTimezone: true, mode: 'date' }),
    declineReason: text('decline_reason'),
    traceparent: text('traceparent'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('payments_amount_positive', sql`${t.totalAmountMinor} > 0`),
    check('payments_currency_iso', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('payments_status_known', sql`${t.status} in ${oneOf(PAYMENT_STATUSES)}`),
  ],
);

export const paymentOrders = pgTable(
  'payment_orders',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id')
      .notNull()
      .references(() => payments.id),
    /** The order's index in the checkout request, so reads return orders as they were sent. */
    position: integer('position').notNull(),
    sellerId: text('seller_id').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    status: text('status').notNull(),
    captureAttempts: integer('capture_attempts').notNull().default(0),
    lastPspError: text('last_psp_error'),
    /** The PSP's id of the capture, once captured; reconciliation matches on it. */
    pspCaptureId: text('psp_capture_id'),
    /** The platform's commission rate fixed at checkout (PLATFORM_COMMISSION_BPS then): the CAPTURE entry uses it. */
    commissionBps: integer('commission_bps').notNull().default(0),
    /** Refunds requested and not failed (in flight or succeeded): what can no longer be refunded. */
    refundReservedMinor: bigint('refund_reserved_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Refunds that succeeded, in the order they did (a REFUND entry's commission share depends on it). */
    refundedMinor: bigint('refunded_minor', { mode: 'bigint' }).notNull().default(sql`0`),
    /** Set when the payment's cancellation was requested: the order is voided instead of captured, unless the PSP captured it first. */
    cancelRequestedAt: timestamp('cancel_requested_at', { withTimezone: true, mode: 'date' }),
    /** When the PSP's settlement report listed this order's capture (the settlement import sets it). */
    settledAt: timestamp('settled_at', { withTimezone: true, mode: 'date' }),
    /** The outbox marker: null until the PaymentOrder workflow is known to have started. */
    workflowStartedAt: timestamp('workflow_started_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('payment_orders_one_per_seller').on(t.paymentId, t.sellerId),
    unique('payment_orders_position_unique').on(t.paymentId, t.position),
    check('payment_orders_position_range', sql`${t.position} >= 0 and ${t.position} < 50`),
    check('payment_orders_amount_positive', sql`${t.amountMinor} > 0`),
    check('payment_orders_attempts_non_negative', sql`${t.captureAttempts} >= 0`),
    check('payment_orders_commission_range', sql`${t.commissionBps} >= 0 and ${t.commissionBps} <= 10000`),
    check('payment_orders_status_known', sql`${t.status} in ${oneOf(PAYMENT_ORDER_STATUSES)}`),
    // Refunds requested or succeeded never exceed the capture: enforced here, whatever the code does.
    check('payment_orders_refunds_within_amount', sql`${t.refundedMinor} >= 0 and ${t.refundedMinor} <= ${t.refundReservedMinor} and ${t.refundReservedMinor} <= ${t.amountMinor}`),
    index('payment_orders_payment_idx').on(t.paymentId),
    // A seller's available balance (GET /balance, every payout reservation) sums its orders: without
    // this it read the whole table, a cost growing with every order of every seller.
    index('payment_orders_seller_idx').on(t.sellerId),
    // The relay looks for cancellations still open every second: only cancelled orders are indexed.
    index('payment_orders_cancel_requested_idx').on(t.cancelRequestedAt).where(sql`${t.cancelRequestedAt} is not null`),
    index('payment_orders_unstarted_idx')
      .on(t.createdAt)
      .where(sql`${t.workflowStartedAt} is null and ${t.status} <> 'DECLINED'`),
  ],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    /** Keys are scoped to the caller (JWT subject) so two clients cannot collide. */
    principal: text('principal').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    status: text('status').notNull(),
    paymentId: uuid('payment_id').notNull(),
    responseStatus: integer('response_status'),
    responseBody: jsonb('response_body'),
    lockedUntil: timestamp('locked_until', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: createdAt(),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'idempotency_keys_pk', columns: [t.principal, t.key] }),
    /** The retention purge finds expired keys oldest first (db/idempotency-keys.ts). */
    index('idempotency_keys_created_at_idx').on(t.createdAt),
    check('idempotency_keys_status_known', sql`${t.status} in ('IN_FLIGHT','COMPLETED')`),
    check(
      'idempotency_keys_completed_has_response',
      sql`${t.status} <> 'COMPLETED' or (${t.responseStatus} is not null and ${t.responseBody} is not null)`,
    ),
  ],
);

export const journalEntries = pgTable(
  'journal_entries',
  {
    /** Deterministic: `{TYPE}:{paymentOrderId}`; the primary key makes a duplicate impossible. */
    id: text('id').primaryKey(),
    entryType: text('entry_type').notNull(),
    /** Null for money-out entries (SETTLEMENT, PAYOUT, PAYOUT_RETURN, ADJUSTMENT). */
    paymentOrderId: uuid('payment_order_id'),
    paymentId: uuid('payment_id'),
    sellerId: text('seller_id').notNull(),
    /** The settlement item, payout or adjustment a money-out entry records (its id is `{TYPE}:{subject_id}`). */
    subjectId: text('subject_id'),
    /** The ledger batch that wrote it; lets a retried commit find what it wrote the first time. */
    batchId: text('batch_id').notNull(),
    /** Facts about the entry that are not postings, e.g. the PSP's capture id of a CAPTURE. */
    metadata: jsonb('metadata'),
    /** The refund a REFUND entry records (its id is REFUND:{refundId}). */
    refundId: uuid('refund_id'),
    createdAt: createdAt(),
  },
  (t) => [
    check('journal_entries_type_known', sql`${t.entryType} in ${oneOf(ENTRY_TYPES)}`),
    check(
      'journal_entries_id_deterministic',
      sql`(${t.refundId} is null and ${t.subjectId} is null and ${t.paymentOrderId} is not null and ${t.paymentId} is not null and ${t.id} = ${t.entryType} || ':' || ${t.paymentOrderId}::text) or (${t.entryType} = 'REFUND' and ${t.paymentOrderId} is not null and ${t.id} = 'REFUND:' || ${t.refundId}::text) or (${t.entryType} in ${oneOf(SUBJECT_ENTRY_TYPES)} and ${t.subjectId} is not null and ${t.id} = ${t.entryType} || ':' || ${t.subjectId})`,
    ),
    index('journal_entries_batch_idx').on(t.batchId),
    index('journal_entries_seller_idx').on(t.sellerId),
  ],
);

export const postings = pgTable(
  'postings',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    journalEntryId: text('journal_entry_id').notNull(),
    accountCode: text('account_code').notNull(),
    direction: text('direction').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    createdAt: createdAt(),
  },
  (t) => [
    foreignKey({ name: 'postings_entry_fk', columns: [t.journalEntryId], foreignColumns: [journalEntries.id] }),
    check('postings_amount_positive', sql`${t.amountMinor} > 0`),
    check('postings_direction_known', sql`${t.direction} in ('DEBIT','CREDIT')`),
    check('postings_currency_iso', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    index('postings_entry_idx').on(t.journalEntryId),
    index('postings_account_idx').on(t.accountCode, t.id),
  ],
);

/**
 * Balance snapshots folded from the aggregator's Redis deltas. A balance is kept per account,
 * currency and stream (the seller whose ledger wrote the postings): postings of one stream arrive
 * in posting-id order, so `last_posting_id` is a watermark that makes folding idempotent. A
 * shared account's balance is the sum of its streams.
 */
export const accountBalances = pgTable(
  'account_balances',
  {
    accountCode: text('account_code').notNull(),
    currency: currency(),
    streamId: text('stream_id').notNull(),
    balanceMinor: bigint('balance_minor', { mode: 'bigint' }).notNull(),
    lastPostingId: bigint('last_posting_id', { mode: 'bigint' }).notNull(),
    lastEntryId: text('last_entry_id').notNull(),
    asOf: timestamp('as_of', { withTimezone: true, mode: 'date' }).notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ name: 'account_balances_pk', columns: [t.accountCode, t.currency, t.streamId] }),
    check('account_balances_watermark_positive', sql`${t.lastPostingId} > 0`),
    index('account_balances_stream_idx').on(t.streamId),
  ],
);

/**
 * Ledger facts: what a PaymentOrder (later a refund, a settlement, a payout) reports to the
 * ledger, written in the same transaction as the status change that produced it. This table, not
 * a workflow's state, is the copy of record until the fact is journaled: the stream's ledger
 * workflow commits what it holds, and a sweeper wakes any stream whose facts wait too long.
 * `id` is the journal entry id the fact becomes, so a fact exists at most once.
 */
export const ledgerFacts = pgTable(
  'ledger_facts',
  {
    id: text('id').primaryKey(),
    entryType: text('entry_type').notNull(),
    /** The ledger stream (the seller) that journals it. */
    streamId: text('stream_id').notNull(),
    /** Null for facts that belong to no payment (settlements, payouts). */
    paymentId: uuid('payment_id'),
    paymentOrderId: uuid('payment_order_id'),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    commissionBps: integer('commission_bps').notNull(),
    metadata: jsonb('metadata'),
    /** A REFUND's context: the refund, what its order captured, what earlier refunds took back. */
    refundId: uuid('refund_id'),
    capturedMinor: bigint('captured_minor', { mode: 'bigint' }),
    refundedBeforeMinor: bigint('refunded_before_minor', { mode: 'bigint' }),
    /** A money-out fact's subject: `{ subjectId, feeMinor?, direction?, debitAccount?, creditAccount? }` (amounts as strings). */
    subject: jsonb('subject'),
    traceparent: text('traceparent'),
    /** Arrival order: a stream journals its facts first in, first out. */
    position: bigserial('position', { mode: 'bigint' }).notNull(),
    createdAt: createdAt(),
    /** Set in the transaction that wrote its journal entry (or found it already written). */
    journaledAt: timestamp('journaled_at', { withTimezone: true, mode: 'date' }),
    /** A fact that cannot become a valid entry (a bug) is set aside, visibly, instead of blocking its stream. */
    quarantinedAt: timestamp('quarantined_at', { withTimezone: true, mode: 'date' }),
    quarantineReason: text('quarantine_reason'),
  },
  (t) => [
    check('ledger_facts_amount_positive', sql`${t.amountMinor} > 0`),
    check('ledger_facts_commission_range', sql`${t.commissionBps} >= 0 and ${t.commissionBps} <= 10000`),
    index('ledger_facts_pending_idx').on(t.streamId, t.position).where(sql`${t.journaledAt} is null and ${t.quarantinedAt} is null`),
    index('ledger_facts_payment_order_idx').on(t.paymentOrderId),
  ],
);

/**
 * One row per ledger stream: the last sequence number it gave a batch. Locked while a batch is
 * committed, which makes each stream's sequence gapless (1, 2, 3, ...).
 */
export const ledgerStreams = pgTable(
  'ledger_streams',
  {
    streamId: text('stream_id').primaryKey(),
    lastSeq: bigint('last_seq', { mode: 'bigint' }).notNull().default(sql`0`),
    updatedAt: updatedAt(),
  },
  (t) => [check('ledger_streams_seq_non_negative', sql`${t.lastSeq} >= 0`)],
);

/**
 * A committed batch of journal entries of one stream, with its gapless sequence number; it is the
 * outbox of LedgerEntriesRecorded (one event per batch, `id` is the event id) until published.
 */
export const ledgerBatches = pgTable(
  'ledger_batches',
  {
    id: text('id').primaryKey(),
    streamId: text('stream_id').notNull(),
    seq: bigint('seq', { mode: 'bigint' }).notNull(),
    entryCount: integer('entry_count').notNull(),
    traceparent: text('traceparent'),
    createdAt: createdAt(),
    publishedAt: timestamp('published_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    unique('ledger_batches_stream_seq_unique').on(t.streamId, t.seq),
    check('ledger_batches_seq_positive', sql`${t.seq} > 0`),
    index('ledger_batches_unpublished_idx').on(t.streamId, t.seq).where(sql`${t.publishedAt} is null`),
  ],
);

/**
 * Every run of the scheduled ledger verification: when, whether the ledger was clean, how many
 * violations, and the report. The worker exports the latest as metrics.
 */
export const ledgerVerificationRuns = pgTable(
  'ledger_verification_runs',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    ok: boolean('ok').notNull(),
    violations: integer('violations').notNull(),
    report: jsonb('report').notNull(),
  },
  (t) => [index('ledger_verification_runs_finished_idx').on(t.finishedAt)],
);

/**
 * Refunds: one row per refund, created with its reservation on the order (one transaction), run by
 * a RefundWorkflow (`refund:{id}`). `workflow_started_at` is the outbox marker, as for orders.
 */
export const refunds = pgTable(
  'refunds',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id').notNull().references(() => payments.id),
    paymentOrderId: uuid('payment_order_id').notNull().references(() => paymentOrders.id),
    sellerId: text('seller_id').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    status: text('status').notNull(),
    reason: text('reason'),
    attempts: integer('attempts').notNull().default(0),
    lastPspError: text('last_psp_error'),
    pspRefundId: text('psp_refund_id'),
    /** When the PSP's settlement report listed this refund. */
    settledAt: timestamp('settled_at', { withTimezone: true, mode: 'date' }),
    workflowStartedAt: timestamp('workflow_started_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('refunds_amount_positive', sql`${t.amountMinor} > 0`),
    check('refunds_status_known', sql`${t.status} in ${oneOf(REFUND_STATUSES)}`),
    index('refunds_payment_order_idx').on(t.paymentOrderId),
    index('refunds_seller_idx').on(t.sellerId), // the available balance, as payment_orders_seller_idx
    index('refunds_unstarted_idx').on(t.createdAt).where(sql`${t.workflowStartedAt} is null`),
  ],
);

/**
 * Events for merchants (webhooks), written in the transaction of the state change they announce,
 * so a process dying between the change and the send loses nothing. `id` is stable
 * (`evt_` + a hash of type and subject): receivers dedupe by it.
 */
export const merchantEvents = pgTable(
  'merchant_events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    sellerId: text('seller_id').notNull(),
    /** What the event is about (a paymentOrderId, a refundId, a payoutId). */
    subjectId: text('subject_id').notNull(),
    data: jsonb('data').notNull(),
    createdAt: createdAt(),
    /** Set once the event has been fanned out to the seller's endpoints (webhook dispatch). */
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    index('merchant_events_undispatched_idx').on(t.createdAt).where(sql`${t.dispatchedAt} is null`),
    index('merchant_events_seller_idx').on(t.sellerId, t.createdAt),
  ],
);

/**
 * One row per imported settlement report day: the import is idempotent (a day imported twice adds
 * nothing: items are keyed by the PSP's item id) and this row says when and what it held.
 */
export const settlementImports = pgTable('settlement_imports', {
  reportDate: text('report_date').primaryKey(),
  itemCount: integer('item_count').notNull(),
  totals: jsonb('totals').notNull(),
  firstImportedAt: createdAt(),
  lastImportedAt: timestamp('last_imported_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
}, (t) => [check('settlement_imports_date_format', sql`${t.reportDate} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'`)]);

/** Every item of the PSP's settlement reports, as reported, with what it matched in our records. */
export const settlementItems = pgTable(
  'settlement_items',
  {
    itemId: text('item_id').primaryKey(),
    reportDate: text('report_date').notNull(),
    kind: text('kind').notNull(),
    pspCaptureId: text('psp_capture_id').notNull(),
    pspRefundId: text('psp_refund_id'),
    reference: text('reference').notNull(),
    grossMinor: bigint('gross_minor', { mode: 'bigint' }).notNull(),
    feeMinor: bigint('fee_minor', { mode: 'bigint' }).notNull(),
    netMinor: bigint('net_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    /** Ours, when matched: the order (a capture) or the refund; null = settled but unknown to us. */
    paymentOrderId: uuid('payment_order_id'),
    refundId: uuid('refund_id'),
    sellerId: text('seller_id'),
    importedAt: createdAt(),
  },
  (t) => [
    check('settlement_items_kind_known', sql`${t.kind} in ('CAPTURE','REFUND')`),
    check('settlement_items_amounts', sql`${t.grossMinor} > 0 and ${t.feeMinor} >= 0 and ${t.netMinor} = ${t.grossMinor} - ${t.feeMinor}`),
    index('settlement_items_date_idx').on(t.reportDate),
    index('settlement_items_order_idx').on(t.paymentOrderId),
  ],
);

/**
 * Every difference between the PSP's settlement and our records, one row per (kind, subject).
 * Recording one moves no money: an operator resolves it (an ADJUSTMENT entry, if money must move).
 */
export const reconciliationMismatches = pgTable(
  'reconciliation_mismatches',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    kind: text('kind').notNull(),
    /** The settlement item id, or our paymentOrderId / refundId for what never settled. */
    subjectId: text('subject_id').notNull(),
    reportDate: text('report_date'),
    sellerId: text('seller_id'),
    details: jsonb('details').notNull(),
    detectedAt: createdAt(),
    resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
    resolution: text('resolution'),
  },
  (t) => [
    unique('reconciliation_mismatches_kind_subject').on(t.kind, t.subjectId),
    check('reconciliation_mismatches_kind_known', sql`${t.kind} in ${oneOf(MISMATCH_KINDS)}`),
    index('reconciliation_mismatches_open_idx').on(t.kind).where(sql`${t.resolvedAt} is null`),
  ],
);

/** The audit trail of ADJUSTMENT entries: who asked, why, and what (the entry is `ADJUSTMENT:{id}`). */
export const ledgerAdjustments = pgTable(
  'ledger_adjustments',
  {
    id: uuid('id').primaryKey(),
    streamId: text('stream_id').notNull(),
    debitAccount: text('debit_account').notNull(),
    creditAccount: text('credit_account').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    reason: text('reason').notNull(),
    actor: text('actor').notNull(),
    mismatchId: bigint('mismatch_id', { mode: 'bigint' }),
    createdAt: createdAt(),
  },
  (t) => [
    check('ledger_adjustments_amount_positive', sql`${t.amountMinor} > 0`),
    check('ledger_adjustments_reason_given', sql`length(${t.reason}) between 3 and 500`),
    check('ledger_adjustments_accounts_differ', sql`${t.debitAccount} <> ${t.creditAccount}`),
    index('ledger_adjustments_stream_idx').on(t.streamId), // the available balance, as payment_orders_seller_idx
  ],
);

/**
 * One row per (seller, currency) that has ever had money: its payout Schedule exists, and the row
 * is the lock that serialises a payout's reservation with refunds of the seller (a refund's insert
 * locks it by trigger), so a payout never reserves more than was available.
 */
export const payoutAccounts = pgTable(
  'payout_accounts',
  {
    sellerId: text('seller_id').notNull(),
    currency: currency(),
    scheduleCreatedAt: timestamp('schedule_created_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'payout_accounts_pk', columns: [t.sellerId, t.currency] })],
);

/** Payouts: reserved (PAYOUT_REQUESTED) in the transaction that computed the available amount. */
export const payouts = pgTable(
  'payouts',
  {
    id: uuid('id').primaryKey(),
    sellerId: text('seller_id').notNull(),
    amountMinor: bigint('amount_minor', { mode: 'bigint' }).notNull(),
    currency: currency(),
    status: text('status').notNull(),
    /** The Schedule's period (the workflow id of the run): one payout per seller, currency and period. */
    period: text('period').notNull(),
    railPayoutId: text('rail_payout_id'),
    failureCode: text('failure_code'),
    paidAt: timestamp('paid_at', { withTimezone: true, mode: 'date' }),
    returnedAt: timestamp('returned_at', { withTimezone: true, mode: 'date' }),
    /** When the payout sweeper last looked this payout up at the rail (temporal/payout-sweeper.ts). */
    sweptAt: timestamp('swept_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('payouts_one_per_period').on(t.sellerId, t.currency, t.period),
    check('payouts_amount_positive', sql`${t.amountMinor} > 0`),
    check('payouts_status_known', sql`${t.status} in ${oneOf(PAYOUT_STATUSES)}`),
    index('payouts_seller_idx').on(t.sellerId, t.createdAt),
    // The sweeper's work: payouts not yet final (requested) or still returnable (paid).
    index('payouts_open_idx').on(t.status, t.sweptAt).where(sql`${t.status} in ('PAYOUT_REQUESTED', 'PAID')`),
  ],
);

/**
 * Merchant webhook endpoints. The secret signs deliveries (HMAC), so it is kept as is, not hashed;
 * after a rotation the previous secret also signs until `previousSecretExpiresAt`.
 * `failingSince` is the first failed attempt after the last success: an endpoint failing longer
 * than the configured window is DISABLED with a reason.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey(),
    sellerId: text('seller_id').notNull(),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamp('previous_secret_expires_at', { withTimezone: true, mode: 'date' }),
    status: text('status').notNull(),
    disabledReason: text('disabled_reason'),
    failingSince: timestamp('failing_since', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('webhook_endpoints_seller_url_unique').on(t.sellerId, t.url),
    check('webhook_endpoints_status_known', sql`${t.status} in ${oneOf(WEBHOOK_ENDPOINT_STATUSES)}`),
    check('webhook_endpoints_events_known', sql`${t.events} <@ ${sql.raw(`array[${MERCHANT_EVENT_TYPES.map((v) => `'${v}'`).join(',')}]::text[]`)} and cardinality(${t.events}) > 0`),
  ],
);

/**
 * One event to one endpoint. A resend is a new delivery of the same event (`resendOf`), so the
 * log keeps every try and the receiver dedupes by the event id. The relay's fan-out inserts at
 * most one original delivery per (endpoint, event).
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    eventId: text('event_id')
      .notNull()
      .references(() => merchantEvents.id),
    resendOf: uuid('resend_of'),
    status: text('status').notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    lastLatencyMs: integer('last_latency_ms'),
    lastResponse: text('last_response'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('webhook_deliveries_status_known', sql`${t.status} in ${oneOf(WEBHOOK_DELIVERY_STATUSES)}`),
    check('webhook_deliveries_attempts_nonnegative', sql`${t.attempts} >= 0`),
    index('webhook_deliveries_due_idx').on(t.endpointId, t.nextAttemptAt).where(sql`${t.status} = 'PENDING'`),
    index('webhook_deliveries_pending_created_idx').on(t.createdAt).where(sql`${t.status} = 'PENDING'`),
    index('webhook_deliveries_endpoint_created_idx').on(t.endpointId, t.createdAt),
    uniqueIndex('webhook_deliveries_original_unique').on(t.endpointId, t.eventId).where(sql`${t.resendOf} is null`),
  ],
);

/** Every attempt of a delivery: status code, latency and the start of the answer (truncated). */
export const webhookDeliveryAttempts = pgTable(
  'webhook_delivery_attempts',
  {
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    outcome: text('outcome').notNull(),
    statusCode: integer('status_code'),
    latencyMs: integer('latency_ms').notNull(),
    response: text('response'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] }), check('webhook_delivery_attempts_outcome_known', sql`${t.outcome} in ${oneOf(WEBHOOK_ATTEMPT_OUTCOMES)}`)],
);
