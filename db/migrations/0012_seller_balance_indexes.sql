-- A seller's available balance (GET /balance, payout reservations) reads its orders, refunds and
-- adjustments by seller. On a large live table, create these first with CREATE INDEX CONCURRENTLY
-- under the same names: IF NOT EXISTS then makes this migration a no-op.
CREATE INDEX IF NOT EXISTS "ledger_adjustments_stream_idx" ON "ledger_adjustments" USING btree ("stream_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "payment_orders_seller_idx" ON "payment_orders" USING btree ("seller_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "refunds_seller_idx" ON "refunds" USING btree ("seller_id");