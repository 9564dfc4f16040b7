/**
 * The application's Prometheus metrics (prom-client, default registry), defined once. Each process
 * exposes the ones it updates at /metrics; the Temporal SDK's own worker metrics are served by the
 * SDK on WORKER_SDK_METRICS_PORT.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Counter, Histogram } from 'prom-client';
import type { CaptureOutcome, PaymentServiceProvider } from '../psp/psp.port';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const checkoutDuration = new Histogram({
  name: 'payorch_checkout_duration_seconds',
  help: 'POST /api/v1/payments latency by outcome (accepted, declined, replayed, rejected, unavailable, error)',
  labelNames: ['outcome'] as const,
  buckets: LATENCY_BUCKETS,
});

export const pspCallDuration = new Histogram({
  name: 'payorch_psp_call_duration_seconds',
  help: 'PSP call latency by operation and normalised outcome',
  labelNames: ['operation', 'outcome'] as const,
  buckets: LATENCY_BUCKETS,
});

export const pspCalls = new Counter({ name: 'payorch_psp_calls_total', help: 'PSP calls by operation and normalised outcome', labelNames: ['operation', 'outcome'] as const });

export const captureAttempts = new Histogram({ name: 'payorch_capture_attempts', help: 'PSP capture attempts a PaymentOrder needed before its final status', labelNames: ['status'] as const, buckets: [1, 2, 3, 4, 5, 7, 10] });

export const paymentOrdersFinal = new Counter({ name: 'payorch_payment_orders_final_total', help: 'PaymentOrders that reached a final status, by status and last PSP error code', labelNames: ['status', 'code'] as const });

/** Every capture attempt's outcome as the workflow sees it (captured, rejected, retryable, unknown) and the PSP's code. */
export const captureOutcomes = new Counter({ name: 'payorch_capture_outcomes_total', help: 'Capture attempts by outcome (captured, rejected, retryable, unknown) and PSP error code', labelNames: ['outcome', 'code'] as const });

/** Every void attempt's outcome (voided, already_captured, expired, rejected, retryable, unknown). */
export const voidOutcomes = new Counter({ name: 'payorch_voids_total', help: 'Void attempts by outcome (voided, already_captured, expired, rejected, retryable, unknown) and PSP error code', labelNames: ['outcome', 'code'] as const });

export const ledgerBatchSize = new Histogram({ name: 'payorch_ledger_batch_size', help: 'Journal entries per committed ledger batch', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500] });

export const ledgerCommitDuration = new Histogram({ name: 'payorch_ledger_commit_duration_seconds', help: 'Duration of a ledger batch commit transaction', buckets: LATENCY_BUCKETS });

const tracer = trace.getTracer('payorch-psp');

/** Decorates a PSP adapter with call metrics and a client span per call; the port stays the same. */
export function withPspTelemetry(psp: PaymentServiceProvider): PaymentServiceProvider {
  const call = <T extends { kind: string }>(operation: string, reference: string, run: () => Promise<T>): Promise<T> =>
    tracer.startActiveSpan(`psp.${operation}`, { kind: SpanKind.CLIENT, attributes: { 'psp.reference': reference } }, async (span) => {
      const started = process.hrtime.bigint();
      let outcome = 'unavailable';
      try {
        const result = await run();
        outcome = result.kind;
        return result;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.setAttribute('psp.outcome', outcome);
        span.end();
        pspCallDuration.observe({ operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
        pspCalls.inc({ operation, outcome });
      }
    });
  return {
    authorize: (request) => call('authorize', request.reference, () => psp.authorize(request)),
    capture: (request): Promise<CaptureOutcome> => call('capture', request.reference, () => psp.capture(request)),
    lookupCapture: (request) => call('lookup_capture', request.idempotencyKey, () => psp.lookupCapture(request)),
    voidAuthorization: (request) => call('void', request.reference, () => psp.voidAuthorization(request)),
    refund: (request) => call('refund', request.reference, () => psp.refund(request)),
    lookupRefund: (request) => call('lookup_refund', request.idempotencyKey, () => psp.lookupRefund(request)),
  };
}
