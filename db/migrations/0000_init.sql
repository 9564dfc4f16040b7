CREATE TABLE "idempotency_keys" (
	"principal" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"status" text NOT NULL,
	"payment_id" uuid NOT NULL,
	"response_status" integer,
	"response_body" jsonb,
	"locked_until" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "idempotency_keys_pk" PRIMARY KEY("principal","key"),
	CONSTRAINT "idempotency_keys_status_known" CHECK ("idempotency_keys"."status" in ('IN_FLIGHT','COMPLETED')),
	CONSTRAINT "idempotency_keys_completed_has_response" CHECK ("idempotency_keys"."status" <> 'COMPLETED' or ("idempotency_keys"."response_status" is not null and "idempotency_keys"."response_body" is not null))
);
--> statement-breakpoint
CREATE TABLE "journal_entries" (
	"id" text PRIMARY KEY NOT NULL,
	"entry_type" text NOT NULL,
	"payment_order_id" uuid NOT NULL,
	"payment_id" uuid NOT NULL,
	"seller_id" text NOT NULL,
	"batch_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "journal_entries_type_known" CHECK ("journal_entries"."entry_type" in ('AUTH_HOLD','CAPTURE','AUTH_RELEASE')),
	CONSTRAINT "journal_entries_id_deterministic" CHECK ("journal_entries"."id" = "journal_entries"."entry_type" || ':' || "journal_entries"."payment_order_id"::text)
);
--> statement-breakpoint
CREATE TABLE "payment_orders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"payment_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"seller_id" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"status" text NOT NULL,
	"capture_attempts" integer DEFAULT 0 NOT NULL,
	"last_psp_error" text,
	"workflow_started_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_orders_one_per_seller" UNIQUE("payment_id","seller_id"),
	CONSTRAINT "payment_orders_position_unique" UNIQUE("payment_id","position"),
	CONSTRAINT "payment_orders_position_range" CHECK ("payment_orders"."position" >= 0 and "payment_orders"."position" < 50),
	CONSTRAINT "payment_orders_amount_positive" CHECK ("payment_orders"."amount_minor" > 0),
	CONSTRAINT "payment_orders_attempts_non_negative" CHECK ("payment_orders"."capture_attempts" >= 0),
	CONSTRAINT "payment_orders_status_known" CHECK ("payment_orders"."status" in ('INITIATED_PENDING','CAPTURE_REQUESTED','PENDING_CAPTURE','CAPTURED','CAPTURE_FAILED','DECLINED'))
);
--> statement-breakpoint
CREATE TABLE "payments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"buyer_id" text NOT NULL,
	"order_id" text NOT NULL,
	"total_amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"status" text NOT NULL,
	"psp_authorization_id" text,
	"decline_reason" text,
	"traceparent" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payments_amount_positive" CHECK ("payments"."total_amount_minor" > 0),
	CONSTRAINT "payments_currency_iso" CHECK ("payments"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "payments_status_known" CHECK ("payments"."status" in ('AUTHORIZED','CAPTURED','PARTIALLY_CAPTURED','CAPTURE_FAILED','DECLINED'))
);
--> statement-breakpoint
CREATE TABLE "postings" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"journal_entry_id" text NOT NULL,
	"account_code" text NOT NULL,
	"direction" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "postings_amount_positive" CHECK ("postings"."amount_minor" > 0),
	CONSTRAINT "postings_direction_known" CHECK ("postings"."direction" in ('DEBIT','CREDIT')),
	CONSTRAINT "postings_currency_iso" CHECK ("postings"."currency" ~ '^[A-Z]{3}$')
);
--> statement-breakpoint
ALTER TABLE "payment_orders" ADD CONSTRAINT "payment_orders_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "postings" ADD CONSTRAINT "postings_entry_fk" FOREIGN KEY ("journal_entry_id") REFERENCES "public"."journal_entries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "journal_entries_batch_idx" ON "journal_entries" USING btree ("batch_id");--> statement-breakpoint
CREATE INDEX "journal_entries_seller_idx" ON "journal_entries" USING btree ("seller_id");--> statement-breakpoint
CREATE INDEX "payment_orders_payment_idx" ON "payment_orders" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "payment_orders_unstarted_idx" ON "payment_orders" USING btree ("created_at") WHERE "payment_orders"."workflow_started_at" is null and "payment_orders"."status" <> 'DECLINED';--> statement-breakpoint
CREATE INDEX "postings_entry_idx" ON "postings" USING btree ("journal_entry_id");--> statement-breakpoint
CREATE INDEX "postings_account_idx" ON "postings" USING btree ("account_code","id");