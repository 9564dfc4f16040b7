CREATE TABLE "merchant_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"seller_id" text NOT NULL,
	"subject_id" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"dispatched_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "refunds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"payment_id" uuid NOT NULL,
	"payment_order_id" uuid NOT NULL,
	"seller_id" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_psp_error" text,
	"psp_refund_id" text,
	"workflow_started_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "refunds_amount_positive" CHECK ("refunds"."amount_minor" > 0),
	CONSTRAINT "refunds_status_known" CHECK ("refunds"."status" in ('REFUND_REQUESTED','REFUNDED','REFUND_FAILED'))
);
--> statement-breakpoint
ALTER TABLE "journal_entries" DROP CONSTRAINT "journal_entries_type_known";--> statement-breakpoint
ALTER TABLE "journal_entries" DROP CONSTRAINT "journal_entries_id_deterministic";--> statement-breakpoint
ALTER TABLE "payment_orders" DROP CONSTRAINT "payment_orders_status_known";--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_status_known";--> statement-breakpoint
ALTER TABLE "journal_entries" ADD COLUMN "refund_id" uuid;--> statement-breakpoint
ALTER TABLE "ledger_facts" ADD COLUMN "refund_id" uuid;--> statement-breakpoint
ALTER TABLE "ledger_facts" ADD COLUMN "captured_minor" bigint;--> statement-breakpoint
ALTER TABLE "ledger_facts" ADD COLUMN "refunded_before_minor" bigint;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "refund_reserved_minor" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "refunded_minor" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "cancel_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_payment_order_id_payment_orders_id_fk" FOREIGN KEY ("payment_order_id") REFERENCES "public"."payment_orders"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "merchant_events_undispatched_idx" ON "merchant_events" USING btree ("created_at") WHERE "merchant_events"."dispatched_at" is null;--> statement-breakpoint
CREATE INDEX "merchant_events_seller_idx" ON "merchant_events" USING btree ("seller_id","created_at");--> statement-breakpoint
CREATE INDEX "refunds_payment_order_idx" ON "refunds" USING btree ("payment_order_id");--> statement-breakpoint
CREATE INDEX "refunds_unstarted_idx" ON "refunds" USING btree ("created_at") WHERE "refunds"."workflow_started_at" is null;--> statement-breakpoint
ALTER TABLE "journal_entries" ADD CONSTRAINT "journal_entries_type_known" CHECK ("journal_entries"."entry_type" in ('AUTH_HOLD','CAPTURE','AUTH_RELEASE','REFUND'));--> statement-breakpoint
ALTER TABLE "journal_entries" ADD CONSTRAINT "journal_entries_id_deterministic" CHECK (("journal_entries"."refund_id" is null and "journal_entries"."id" = "journal_entries"."entry_type" || ':' || "journal_entries"."payment_order_id"::text) or ("journal_entries"."entry_type" = 'REFUND' and "journal_entries"."id" = 'REFUND:' || "journal_entries"."refund_id"::text));--> statement-breakpoint
ALTER TABLE "payment_orders" ADD CONSTRAINT "payment_orders_refunds_within_amount" CHECK ("payment_orders"."refunded_minor" >= 0 and "payment_orders"."refunded_minor" <= "payment_orders"."refund_reserved_minor" and "payment_orders"."refund_reserved_minor" <= "payment_orders"."amount_minor");--> statement-breakpoint
ALTER TABLE "payment_orders" ADD CONSTRAINT "payment_orders_status_known" CHECK ("payment_orders"."status" in ('INITIATED_PENDING','CAPTURE_REQUESTED','PENDING_CAPTURE','CAPTURED','CAPTURE_FAILED','DECLINED','VOIDED'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_status_known" CHECK ("payments"."status" in ('AUTHORIZED','CAPTURED','PARTIALLY_CAPTURED','CAPTURE_FAILED','DECLINED','VOIDED','PARTIALLY_REFUNDED','REFUNDED'));