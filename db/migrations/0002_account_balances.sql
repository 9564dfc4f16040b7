CREATE TABLE "account_balances" (
	"account_code" text NOT NULL,
	"currency" char(3) NOT NULL,
	"stream_id" text NOT NULL,
	"balance_minor" bigint NOT NULL,
	"last_posting_id" bigint NOT NULL,
	"last_entry_id" text NOT NULL,
	"as_of" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "account_balances_pk" PRIMARY KEY("account_code","currency","stream_id"),
	CONSTRAINT "account_balances_watermark_positive" CHECK ("account_balances"."last_posting_id" > 0)
);
--> statement-breakpoint
CREATE INDEX "account_balances_stream_idx" ON "account_balances" USING btree ("stream_id");