import { defineConfig } from 'drizzle-kit';

// drizzle-kit generates SQL migrations from db/schema.ts into db/migrations and applies them.
// The connection comes from DATABASE_URL (scripts/stack exports it from its env file).
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://payorch:payorch@127.0.0.1:15432/payorch' },
  migrations: { table: '__drizzle_migrations', schema: 'public' },
  strict: true,
});
