/**
 * Applies db/migrations with drizzle-orm's migrator, a production dependency (drizzle-kit, which
 * generates the migrations, is a development tool and is not in the container image). Same
 * journal and history table as `drizzle-kit migrate` (db/drizzle.config.ts), so either may run.
 *
 *   node --import tsx db/migrate.ts     (the container image's migration Job / setup container)
 */
import path from 'node:path';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { loadConfigOrExit } from '../config/config';
import { createDb } from './client';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const { db, pool } = createDb({ url: config.DATABASE_URL, poolMax: 1, applicationName: 'payorch-migrate' });
  try {
    await migrate(db, { migrationsFolder: path.join(__dirname, 'migrations'), migrationsTable: '__drizzle_migrations', migrationsSchema: 'public' });
    console.log('migrate: database schema is up to date');
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`migrate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
