/**
 * Prints a development JWT (HS256, signed with AUTH_DEV_SECRET from the stack's env file). It
 * always carries `iat` and `exp`; the TTL may not exceed AUTH_TOKEN_MAX_LIFETIME_S (default 3600).
 *
 *   npm run -s token -- [--scope "payments:write payments:read"] [--sub demo-client] [--seller-id S] [--ttl 3600]
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { loadConfigOrExit } from '../config/config';

export async function signDevToken(options: { secret: string; issuer: string; audience: string; subject: string; scope: string; sellerId?: string; ttlSeconds: number }): Promise<string> {
  return new SignJWT({ scope: options.scope, ...(options.sellerId ? { seller_id: options.sellerId } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds}s`)
    .sign(new TextEncoder().encode(options.secret));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scope: { type: 'string', default: 'payments:write payments:read balances:read' },
      sub: { type: 'string', default: 'demo-client' },
      'seller-id': { type: 'string' },
      ttl: { type: 'string', default: '3600' },
    },
  });
  const config = loadConfigOrExit();
  if (config.AUTH_MODE !== 'dev' || !config.AUTH_DEV_SECRET) {
    process.stderr.write('dev-token: AUTH_MODE must be dev and AUTH_DEV_SECRET set (run scripts/stack up first)\n');
    process.exit(2);
  }
  // The API refuses tokens that live longer than AUTH_TOKEN_MAX_LIFETIME_S, so none is printed.
  const ttlSeconds = Number(values.ttl);
  const maxS = config.AUTH_TOKEN_MAX_LIFETIME_S;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > maxS) {
    process.stderr.write(`dev-token: --ttl must be a whole number of seconds between 1 and ${maxS} (AUTH_TOKEN_MAX_LIFETIME_S)\n`);
    process.exit(2);
  }
  const token = await signDevToken({
    secret: config.AUTH_DEV_SECRET,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    subject: values.sub,
    scope: values.scope,
    sellerId: values['seller-id'],
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`dev-token: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
