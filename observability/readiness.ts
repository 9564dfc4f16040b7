/**
 * Health and readiness checks shared by every service. `/healthz` says the process is alive;
 * `/readyz` runs each dependency check with a timeout and answers 503 naming the failing ones.
 */
import express from 'express';
import { register } from 'prom-client';

export type Check = () => Promise<unknown>;

export async function runChecks(checks: Record<string, Check>, timeoutMs = 2_000): Promise<{ ok: boolean; results: Record<string, string> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
        ]);
        return [name, 'ok'] as const;
      } catch (err) {
        return [name, err instanceof Error ? err.message : String(err)] as const;
      }
    }),
  );
  return { ok: entries.every(([, r]) => r === 'ok'), results: Object.fromEntries(entries) };
}

/** The probe endpoints, mountable on any Express app. */
export function probeRouter(checks: Record<string, Check>): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const { ok, results } = await runChecks(checks);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', checks: results });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(register.contentType).send(await register.metrics());
  });
  return router;
}
