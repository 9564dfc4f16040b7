/**
 * JSON logs (pino). Card tokens and credentials are redacted by path wherever they appear in a
 * logged object, so a careless `log.info({ body })` cannot leak them.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'paymentMethod.token',
  '*.paymentMethod.token',
  'body.paymentMethod.token',
  'password',
  'secret',
  'AUTH_DEV_SECRET',
  'DATABASE_URL',
];

export function createLogger(options: { name: string; level: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    base: { service: options.name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Keeps the card network's last four characters only, for correlating without exposing a token. */
export function maskToken(token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  return token.length <= 4 ? '****' : `****${token.slice(-4)}`;
}
