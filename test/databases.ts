/** Creating and dropping migrated databases on the stack's Postgres, for isolated tests. */
import path from 'node:path';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { Client } from 'pg';
import { ROOT } from './support';

/** Creates `name` (owned by the stack's user) with every migration applied; returns its URL. */
export async function createMigratedDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect().catch((err: Error) => {
    throw new Error(`integration tests need the stack: Postgres at ${adminUrl} did not answer (${err.message}); run scripts/stack up`);
  });
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = adminUrl.replace(/\/[^/]+$/, `/${name}`);
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await migrate(drizzle(client), { migrationsFolder: path.join(ROOT, 'db/migrations'), migrationsTable: '__drizzle_migrations', migrationsSchema: 'public' });
  } finally {
    await client.end();
  }
  return url;
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}
