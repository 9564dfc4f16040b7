/**
 * The relational model. Invariants live here as constraints, not only in code: amounts are
 * positive integers of minor units, statuses are closed sets, a seller appears once per payment,
 * a journal entry id is unique, and postings are append-only (see the custom migration that adds
 * the triggers).
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
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
    declineReason: text('decline_reason'),
    traceparent: text('traceparent'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('payments_amount_positive', sql`${t.totalAmountMinor} > 0`),
    check('payments_currency_iso', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check(
      'payments_status_known',
      sql`${t.status} in ('AUTHORIZED','CAPTURED','PARTIALLY_CAPTURED','CAPTURE_FAILED','DECLINED')`,
    ),
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
    check(
      'payment_orders_status_known',
      sql`${t.status} in ('INITIATED_PENDING','CAPTURE_REQUESTED','PENDING_CAPTURE','CAPTURED','CAPTURE_FAILED','DECLINED')`,
    ),
    index('payment_orders_payment_idx').on(t.paymentId),
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
    paymentOrderId: uuid('payment_order_id').notNull(),
    paymentId: uuid('payment_id').notNull(),
    sellerId: text('seller_id').notNull(),
    /** The ledger batch that wrote it; lets a retried commit find what it wrote the first time. */
    batchId: text('batch_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    check('journal_entries_type_known', sql`${t.entryType} in ('AUTH_HOLD','CAPTURE','AUTH_RELEASE')`),
    check('journal_entries_id_deterministic', sql`${t.id} = ${t.entryType} || ':' || ${t.paymentOrderId}::text`),
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
