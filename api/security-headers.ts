/**
 * Security headers on every response: helmet's defaults (Content-Security-Policy,
 * Strict-Transport-Security, X-Content-Type-Options: nosniff, X-Frame-Options, Referrer-Policy,
 * the Cross-Origin-* policies, ...). For a JSON API the default CSP is enough: it only matters if a
 * browser is tricked into rendering a response. Also the answers Node's HTTP parser writes itself
 * for requests Express never sees (api/problem.ts, `clientErrorResponse`) carry the same headers.
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';

export const securityHeaders = (): RequestHandler => helmet();

/**
 * The headers helmet sets, as name/value pairs. helmet's default headers do not depend on the
 * request (no nonces), so they are computed once by running the middleware on a stand-in response.
 */
export function staticSecurityHeaders(): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const res = {
    setHeader: (name: string, value: string | number) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let finished = false;
  (helmet() as unknown as (req: unknown, res: unknown, next: (err?: unknown) => void) => void)({}, res, (err) => {
    if (err) throw err instanceof Error ? err : new Error('helmet failed');
    finished = true;
  });
  if (!finished) throw new Error('helmet did not finish synchronously');
  return headers;
}
