/**
 * OpenTelemetry tracing (@opentelemetry/sdk-node, OTel JS 1.x to match
 * @temporalio/interceptors-opentelemetry 1.x). Off by default: with OTEL_TRACES_ENABLED=true spans
 * go to the OTLP/HTTP endpoint OTEL_EXPORTER_OTLP_ENDPOINT. Tests pass an in-memory exporter.
 *
 * One trace follows a payment: the HTTP request span (api/app.ts) -> StartWorkflow (client
 * interceptor) -> RunWorkflow and StartActivity (workflow interceptors) -> RunActivity (activity
 * interceptor) -> the PSP call span and the ledger's SignalWithStartWorkflow.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

export type Tracing = { spanProcessor: SpanProcessor; resource: Resource; shutdown: () => Promise<void> };

export function startTracing(options: { serviceName: string; enabled: boolean; otlpEndpoint?: string; exporter?: SpanExporter }): Tracing | undefined {
  if (!options.enabled && !options.exporter) return undefined;
  const exporter = options.exporter ?? new OTLPTraceExporter(options.otlpEndpoint ? { url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` } : {});
  const spanProcessor = options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const resource = new Resource({ 'service.name': options.serviceName });
  const sdk = new NodeSDK({ resource, spanProcessors: [spanProcessor], instrumentations: [] });
  sdk.start();
  return { spanProcessor, resource, shutdown: () => sdk.shutdown() };
}
