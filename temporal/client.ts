/** One place that connects to Temporal, for the API, the worker's activities and the CLI tools. */
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';

/**
 * The client propagates the active trace into workflows it starts or signals (a no-op while no
 * tracer provider is registered).
 */
export async function connectTemporalClient(options: { address: string; namespace: string; lazy?: boolean }): Promise<Client> {
  // lazy: no connection until the first call (a process that must start while Temporal is down).
  const connection = options.lazy ? Connection.lazy({ address: options.address, connectTimeout: '5s' }) : await Connection.connect({ address: options.address, connectTimeout: '5s' });
  return new Client({ connection, namespace: options.namespace, interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } });
}
