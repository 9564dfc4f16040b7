/**
 * One place that opens the Postgres pool and the drizzle handle. Pool size is bounded by
 * configuration; the caller owns the pool and closes it on shutdown.
 */
import { sql, type SQL } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { Pool } from 'pg';
import * as schema from './schema';

export type Database = NodePgDatabase<typeof schema>;
export type DbHandle = { db: Database; pool: Pool };

export function createDb(options: { url: string; poolMax: number; applicationName: string }): DbHandle {
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolMax,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 30_000,
  });
  // A client that loses its connection emits 'error': an idle one on the pool, a checked-out one
  // (say, between two statements of a transaction) on itself. Without listeners either would
  // crash the process when Postgres restarts; with them the query in flight fails (and is
  // retried by its caller) and the pool replaces the client.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return { db: drizzle(pool, { schema }), pool };
}

/**
 * A uuid[] parameter. drizzle expands a JS array into a row of parameters, which Postgres cannot
 * cast to an array; one text parameter split on the server is safe for any number of ids.
 */
export const uuidArray = (ids: readonly string[]): SQL => sql`string_to_array(${ids.join(',')}, ',')::uuid[]`;
