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
    // Not `with (force)`: that needs the right to signal every backend on the database, and an
    // autovacuum worker (no role) refuses it to a non-superuser. Our own leftover connections are
    // ended here; a plain DROP asks autovacuum to leave by itself and waits a few seconds for it.
    for (let attempt = 1; ; attempt++) {
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and usename = current_user and pid <> pg_backend_pid()',
        [name],
      );
      try {
        await admin.query(`drop database if exists ${name}`);
        return;
      } catch (err) {
        // 55006 object_in_use: someone reconnected or autovacuum has not left yet.
        if ((err as { code?: string }).code !== '55006' || attempt >= 10) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    await admin.end();
  }
}
