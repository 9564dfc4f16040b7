CREATE TABLE "ledger_adjustments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"stream_id" text NOT NULL,
	"debit_account" text NOT NULL,
	"credit_account" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"reason" text NOT NULL,
	"actor" text NOT NULL,
	"mismatch_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_adjustments_amount_positive" CHECK ("ledger_adjustments"."amount_minor" > 0),
	CONSTRAINT "ledger_adjustments_reason_given" CHECK (length("ledger_adjustments"."reason") between 3 and 500),
	CONSTRAINT "ledger_adjustments_accounts_differ" CHECK ("ledger_adjustments"."debit_account" <> "ledger_adjustments"."credit_account")
);
--> statement-breakpoint
CREATE TABLE "payout_accounts" (
	"seller_id" text NOT NULL,
	"currency" char(3) NOT NULL,
	"schedule_created_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payout_accounts_pk" PRIMARY KEY("seller_id","currency")
);
--> statement-breakpoint
CREATE TABLE "payouts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seller_id" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"status" text NOT NULL,
	"period" text NOT NULL,
	"rail_payout_id" text,
	"failure_code" text,
	"paid_at" timestamp with time zone,
	"returned_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payouts_one_per_period" UNIQUE("seller_id","currency","period"),
	CONSTRAINT "payouts_amount_positive" CHECK ("payouts"."amount_minor" > 0),
	CONSTRAINT "payouts_status_known" CHECK ("payouts"."status" in ('PAYOUT_REQUESTED','PAID','FAILED','RETURNED'))
);
--> statement-breakpoint
CREATE TABLE "reconciliation_mismatches" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"subject_id" text NOT NULL,
	"report_date" text,
	"seller_id" text,
	"details" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	"resolution" text,
	CONSTRAINT "reconciliation_mismatches_kind_subject" UNIQUE("kind","subject_id"),
	CONSTRAINT "reconciliation_mismatches_kind_known" CHECK ("reconciliation_mismatches"."kind" in ('captured-not-settled','settled-unknown','amount-mismatch','fee-mismatch'))
);
--> statement-breakpoint
CREATE TABLE "settlement_imports" (
	"report_date" text PRIMARY KEY NOT NULL,
	"item_count" integer NOT NULL,
	"totals" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_imported_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "settlement_imports_date_format" CHECK ("settlement_imports"."report_date" ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')
);
--> statement-breakpoint
CREATE TABLE "settlement_items" (
	"item_id" text PRIMARY KEY NOT NULL,
	"report_date" text NOT NULL,
	"kind" text NOT NULL,
	"psp_capture_id" text NOT NULL,
	"psp_refund_id" text,
	"reference" text NOT NULL,
	"gross_minor" bigint NOT NULL,
	"fee_minor" bigint NOT NULL,
	"net_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"payment_order_id" uuid,
	"refund_id" uuid,
	"seller_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "settlement_items_kind_known" CHECK ("settlement_items"."kind" in ('CAPTURE','REFUND')),
	CONSTRAINT "settlement_items_amounts" CHECK ("settlement_items"."gross_minor" > 0 and "settlement_items"."fee_minor" >= 0 and "settlement_items"."net_minor" = "settlement_items"."gross_minor" - "settlement_items"."fee_minor")
);
--> statement-breakpoint
ALTER TABLE "journal_entries" DROP CONSTRAINT "journal_entries_type_known";--> statement-breakpoint
ALTER TABLE "journal_entries" DROP CONSTRAINT "journal_entries_id_deterministic";--> statement-breakpoint
ALTER TABLE "journal_entries" ALTER COLUMN "payment_order_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "journal_entries" ALTER COLUMN "payment_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "journal_entries" ADD COLUMN "subject_id" text;--> statement-breakpoint
ALTER TABLE "ledger_facts" ADD COLUMN "subject" jsonb;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "settled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "refunds" ADD COLUMN "settled_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "payouts_seller_idx" ON "payouts" USING btree ("seller_id","created_at");--> statement-breakpoint
CREATE INDEX "reconciliation_mismatches_open_idx" ON "reconciliation_mismatches" USING btree ("kind") WHERE "reconciliation_mismatches"."resolved_at" is null;--> statement-breakpoint
CREATE INDEX "settlement_items_date_idx" ON "settlement_items" USING btree ("report_date");--> statement-breakpoint
CREATE INDEX "settlement_items_order_idx" ON "settlement_items" USING btree ("payment_order_id");--> statement-breakpoint
ALTER TABLE "journal_entries" ADD CONSTRAINT "journal_entries_type_known" CHECK ("journal_entries"."entry_type" in ('AUTH_HOLD','CAPTURE','AUTH_RELEASE','REFUND','SETTLEMENT','PAYOUT','PAYOUT_RETURN','ADJUSTMENT'));--> statement-breakpoint
ALTER TABLE "journal_entries" ADD CONSTRAINT "journal_entries_id_deterministic" CHECK (("journal_entries"."refund_id" is null and "journal_entries"."subject_id" is null and "journal_entries"."payment_order_id" is not null and "journal_entries"."payment_id" is not null and "journal_entries"."id" = "journal_entries"."entry_type" || ':' || "journal_entries"."payment_order_id"::text) or ("journal_entries"."entry_type" = 'REFUND' and "journal_entries"."payment_order_id" is not null and "journal_entries"."id" = 'REFUND:' || "journal_entries"."refund_id"::text) or ("journal_entries"."entry_type" in ('SETTLEMENT','PAYOUT','PAYOUT_RETURN','ADJUSTMENT') and "journal_entries"."subject_id" is not null and "journal_entries"."id" = "journal_entries"."entry_type" || ':' || "journal_entries"."subject_id"));--> statement-breakpoint
-- A refund of a seller locks the seller's payout account row (when it has one) in the refund's
-- transaction, the same row a payout's reservation locks: the two are serialised, so the amount a
-- payout reserves was available after every refund committed before it, and a refund committed
-- after it waits for the reservation (and is then carried as the seller's debt if need be).
CREATE OR REPLACE FUNCTION refunds_lock_payout_account() RETURNS trigger AS $$
BEGIN
  PERFORM 1 FROM payout_accounts WHERE seller_id = NEW.seller_id AND currency = NEW.currency FOR UPDATE;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER refunds_lock_payout_account BEFORE INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION refunds_lock_payout_account();
