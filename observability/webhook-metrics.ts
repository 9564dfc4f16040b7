/**
 * Webhook metrics. Counters and the attempt histogram are updated by the worker's delivery
 * activity; the backlog gauges are read from Postgres at scrape time (by the worker), so an alert
 * sees a stuck relay or a dead endpoint even when no attempt is being made.
 */
import { sql } from 'drizzle-orm';
import { Counter, Histogram } from 'prom-client';
import type { Database } from '../db/client';
import { WEBHOOK_ATTEMPT_OUTCOMES, WEBHOOK_DELIVERY_STATUSES } from '../domain/webhooks';
import { numeric as n, snapshotGauges } from './snapshot-gauges';

export const webhookAttempts = new Counter({ name: 'payorch_webhook_attempts_total', help: 'Webhook delivery attempts by outcome (delivered, http_error, timeout, network_error, refused_address)', labelNames: ['outcome'] as const });

export const webhookDeliveriesFinal = new Counter({ name: 'payorch_webhook_deliveries_total', help: 'Webhook deliveries that reached a final status (DELIVERED, FAILED)', labelNames: ['status'] as const });

export const webhookAttemptDuration = new Histogram({
  name: 'payorch_webhook_attempt_duration_seconds',
  help: 'Webhook delivery attempt latency by outcome',
  labelNames: ['outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

// Every label value exists from the start (at 0), so rate() and the dashboard see the series before the first attempt.
for (const outcome of WEBHOOK_ATTEMPT_OUTCOMES) webhookAttempts.inc({ outcome }, 0);
for (const status of WEBHOOK_DELIVERY_STATUSES) if (status !== 'PENDING') webhookDeliveriesFinal.inc({ status }, 0);

export function registerWebhookGauges(db: Database): void {
  type Snapshot = { pending: number; oldestPendingAgeS: number; undispatched: number; oldestUndispatchedAgeS: number; disabled: number };
  const { scalar: gauge } = snapshotGauges(
    (): Promise<Snapshot> =>
      db
        .execute<Record<string, string | null>>(sql`
        select (select count(*) from webhook_deliveries where status = 'PENDING')::text as pending,
               extract(epoch from now() - (select min(created_at) from webhook_deliveries where status = 'PENDING'))::text as oldest_pending,
               (select count(*) from merchant_events where dispatched_at is null)::text as undispatched,
               extract(epoch from now() - (select min(created_at) from merchant_events where dispatched_at is null))::text as oldest_undispatched,
               (select count(*) from webhook_endpoints where status = 'DISABLED')::text as disabled`)
        .then(({ rows }) => {
          const r = rows[0] ?? {};
          return { pending: n(r.pending), oldestPendingAgeS: n(r.oldest_pending), undispatched: n(r.undispatched), oldestUndispatchedAgeS: n(r.oldest_undispatched), disabled: n(r.disabled) };
        }),
  );
  gauge('payorch_webhook_pending_deliveries', 'Webhook deliveries not yet delivered nor failed', (s) => s.pending);
  gauge('payorch_webhook_oldest_pending_delivery_age_seconds', 'Age of the oldest undelivered webhook delivery (0: none)', (s) => s.oldestPendingAgeS);
  gauge('payorch_webhook_undispatched_events', 'Merchant events not yet fanned out to endpoints by the relay', (s) => s.undispatched);
  gauge('payorch_webhook_oldest_undispatched_event_age_seconds', 'Age of the oldest merchant event not yet fanned out (0: none)', (s) => s.oldestUndispatchedAgeS);
  gauge('payorch_webhook_disabled_endpoints', 'Webhook endpoints disabled after failing for too long', (s) => s.disabled);
}
