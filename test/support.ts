/**
 * Helpers shared by integration tests: the settings of the running stack, the test run's own
 * processes (written by global-setup.ts), tokens, and bounded polling.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseConfig, type Config } from '../config/config';
import { signDevToken } from '../scripts/dev-token';

export const ROOT = path.resolve(__dirname, '..');
export const DATA_DIR = process.env.PAYORCH_DATA_DIR ?? path.join(ROOT, '.data');
export const TEST_ENV_FILE = path.join(DATA_DIR, 'test-env.json');


/** Reads a dotenv-style file into an object (no interpolation, no mutation of process.env). */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** The settings `scripts/stack up` wrote; integration tests need the stack running. */
export function stackEnv(): Record<string, string> {
  const file = path.join(DATA_DIR, 'stack.env');
  if (!existsSync(file)) throw new Error(`no ${file}: start the stack first (scripts/stack up)`);
  return readEnvFile(file);
}

export type TestEnv = {
  runId: string;
  env: Record<string, string>;
  apiBaseUrl: string;
  pspBaseUrl: string;
};

export function testEnv(): TestEnv {
  return JSON.parse(readFileSync(TEST_ENV_FILE, 'utf8')) as TestEnv;
}

/** The configuration the test run's services use (test database, own task queue, own topic). */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return parseConfig({ ...testEnv().env, ...overrides });
}

export async function token(options: { scope?: string; sub?: string; sellerId?: string; ttlSeconds?: number; secret?: string; audience?: string } = {}): Promise<string> {
  const config = testConfig();
  return signDevToken({
    secret: options.secret ?? config.AUTH_DEV_SECRET!,
    issuer: config.AUTH_ISSUER,
    audience: options.audience ?? config.AUTH_AUDIENCE,
    subject: options.sub ?? 'test-client',
    scope: options.scope ?? 'payments:write payments:read balances:read',
    sellerId: options.sellerId,
    ttlSeconds: options.ttlSeconds ?? 600,
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const uniqueId = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
