-- Idempotency-Keys expire IDEMPOTENCY_KEY_RETENTION_S after their first request; the purge
-- (temporal/schedules.ts) deletes them oldest first through this index.
CREATE INDEX IF NOT EXISTS "idempotency_keys_created_at_idx" ON "idempotency_keys" USING btree ("created_at");
