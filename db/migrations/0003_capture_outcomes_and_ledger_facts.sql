CREATE TABLE "ledger_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"stream_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"entry_count" integer NOT NULL,
	"traceparent" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone,
	CONSTRAINT "ledger_batches_stream_seq_unique" UNIQUE("stream_id","seq"),
	CONSTRAINT "ledger_batches_seq_positive" CHECK ("ledger_batches"."seq" > 0)
);
--> statement-breakpoint
CREATE TABLE "ledger_facts" (
	"id" text PRIMARY KEY NOT NULL,
	"entry_type" text NOT NULL,
	"stream_id" text NOT NULL,
	"payment_id" uuid,
	"payment_order_id" uuid,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"commission_bps" integer NOT NULL,
	"metadata" jsonb,
	"traceparent" text,
	"position" bigserial NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"journaled_at" timestamp with time zone,
	"quarantined_at" timestamp with time zone,
	"quarantine_reason" text,
	CONSTRAINT "ledger_facts_amount_positive" CHECK ("ledger_facts"."amount_minor" > 0),
	CONSTRAINT "ledger_facts_commission_range" CHECK ("ledger_facts"."commission_bps" >= 0 and "ledger_facts"."commission_bps" <= 10000)
);
--> statement-breakpoint
CREATE TABLE "ledger_streams" (
	"stream_id" text PRIMARY KEY NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_streams_seq_non_negative" CHECK ("ledger_streams"."last_seq" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ledger_verification_runs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ok" boolean NOT NULL,
	"violations" integer NOT NULL,
	"report" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "journal_entries" ADD COLUMN "metadata" jsonb;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "psp_capture_id" text;--> statement-breakpoint
ALTER TABLE "payment_orders" ADD COLUMN "commission_bps" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "auth_expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "ledger_batches_unpublished_idx" ON "ledger_batches" USING btree ("stream_id","seq") WHERE "ledger_batches"."published_at" is null;--> statement-breakpoint
CREATE INDEX "ledger_facts_pending_idx" ON "ledger_facts" USING btree ("stream_id","position") WHERE "ledger_facts"."journaled_at" is null and "ledger_facts"."quarantined_at" is null;--> statement-breakpoint
CREATE INDEX "ledger_facts_payment_order_idx" ON "ledger_facts" USING btree ("payment_order_id");--> statement-breakpoint
CREATE INDEX "ledger_verification_runs_finished_idx" ON "ledger_verification_runs" USING btree ("finished_at");--> statement-breakpoint
ALTER TABLE "payment_orders" ADD CONSTRAINT "payment_orders_commission_range" CHECK ("payment_orders"."commission_bps" >= 0 and "payment_orders"."commission_bps" <= 10000);