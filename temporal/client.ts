/** One place that connects to Temporal, for the API, the worker's activities and the CLI tools. */
import { Client, Connection } from '@temporalio/client';

export async function connectTemporalClient(options: { address: string; namespace: string }): Promise<Client> {
  const connection = await Connection.connect({ address: options.address, connectTimeout: '5s' });
  return new Client({ connection, namespace: options.namespace });
}
