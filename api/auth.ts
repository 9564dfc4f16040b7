/**
 * Bearer-token authentication with `jose`. Development verifies HS256 tokens signed with
 * AUTH_DEV_SECRET; production verifies RS256/ES256 tokens against a JWKS URL. The algorithm list
 * is fixed per mode, so `alg: none` and algorithm-confusion tokens are rejected. Every token must
 * carry `exp` (jose's `requiredClaims`) and must not live longer than AUTH_TOKEN_MAX_LIFETIME_S;
 * issuer, audience, `exp`, `nbf` and `iat` are checked with an explicit clock tolerance.
 *
 * JWKS keys rotate without a restart: a token whose `kid` the cached set lacks makes jose fetch the
 * set again (at most once per AUTH_JWKS_COOLDOWN_S), and the cached set is refetched once it is
 * older than AUTH_JWKS_CACHE_MAX_AGE_S, so a key the issuer removed stops verifying then.
 */
import type { NextFunction, Request, Response } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/config';
import { Problem } from './problem';

/**
 * Who is calling. `clientId` is the OAuth client the token was issued to (`azp`, else `sub`): the
 * key of its rate-limit budget. A principal with `sellerId` is a seller (see api/ownership.ts).
 */
export type Principal = { subject: string; clientId: string; scopes: ReadonlySet<string>; sellerId?: string };

export type Authenticator = {
  authenticate: (req: Request, res: Response, next: NextFunction) => void;
  requireScope: (...anyOf: string[]) => (req: Request, res: Response, next: NextFunction) => void;
};

export type AuthSettings = Pick<
  Config,
  'AUTH_MODE' | 'AUTH_DEV_SECRET' | 'AUTH_JWKS_URL' | 'AUTH_ISSUER' | 'AUTH_AUDIENCE' | 'AUTH_TOKEN_MAX_LIFETIME_S' | 'AUTH_CLOCK_TOLERANCE_S' | 'AUTH_JWKS_CACHE_MAX_AGE_S' | 'AUTH_JWKS_COOLDOWN_S'
>;

const unauthorized = (detail: string) =>
  new Problem(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });

/** A claim that fails our own checks after jose verified the signature and the standard claims. */
class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}

/** Same rule as seller ids in requests: 1-64 characters, none of them a control character. */
const SELLER_ID = /^[^\p{C}]{1,64}$/u;
const CLAIM_MAX_LENGTH = 256;

function scopesOf(payload: JWTPayload): Set<string> {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return new Set(raw.split(' ').filter((s) => s.length > 0));
  if (Array.isArray(raw)) return new Set(raw.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

/**
 * The checks jose has no option for. Lifetime is `exp - iat` (what the issuer granted); without
 * `iat` it is what is left, `exp - now`. A token issued in the future is refused, or a forged
 * `iat` close to `exp` would hide a long lifetime.
 */
export function checkTokenTimes(payload: JWTPayload, settings: Pick<AuthSettings, 'AUTH_TOKEN_MAX_LIFETIME_S' | 'AUTH_CLOCK_TOLERANCE_S'>, nowS: number): void {
  const exp = payload.exp!; // required and type-checked by jose
  if (payload.iat !== undefined && payload.iat > nowS + settings.AUTH_CLOCK_TOLERANCE_S) throw new TokenRejected('the token was issued in the future');
  const lifetimeS = exp - (payload.iat ?? nowS);
  if (lifetimeS > settings.AUTH_TOKEN_MAX_LIFETIME_S) throw new TokenRejected(`the token lives ${lifetimeS} s, more than ${settings.AUTH_TOKEN_MAX_LIFETIME_S} s`);
}

function principalOf(payload: JWTPayload): Principal {
  const { sub, azp, seller_id: sellerId } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > CLAIM_MAX_LENGTH) throw new TokenRejected('the token has no subject');
  if (azp !== undefined && (typeof azp !== 'string' || azp.length === 0 || azp.length > CLAIM_MAX_LENGTH)) throw new TokenRejected('the token has an invalid azp');
  if (sellerId !== undefined && (typeof sellerId !== 'string' || !SELLER_ID.test(sellerId))) throw new TokenRejected('the token has an invalid seller_id');
  return { subject: sub, clientId: typeof azp === 'string' ? azp : sub, scopes: scopesOf(payload), ...(typeof sellerId === 'string' ? { sellerId } : {}) };
}

/** What the 401 says: enough for a client to fix its token, nothing about our keys. */
function rejectionDetail(err: unknown): string {
  if (err instanceof TokenRejected) return `The token is invalid: ${err.message}.`;
  const { code, claim, reason } = err as { code?: string; claim?: string; reason?: string };
  if (code === 'ERR_JWT_EXPIRED') return 'The token has expired.';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'exp' && reason === 'missing') return 'The token is invalid: it has no expiry (exp).';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'nbf') return 'The token is not valid yet (nbf).';
  return 'The token is invalid.';
}

export function createAuthenticator(settings: AuthSettings): Authenticator {
  const options = {
    issuer: settings.AUTH_ISSUER,
    audience: settings.AUTH_AUDIENCE,
    clockTolerance: settings.AUTH_CLOCK_TOLERANCE_S,
    requiredClaims: ['exp'],
  };
  let verify: (token: string) => Promise<JWTPayload>;
  if (settings.AUTH_MODE === 'jwks') {
    const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(settings.AUTH_JWKS_URL!), {
      timeoutDuration: 3_000,
      cooldownDuration: settings.AUTH_JWKS_COOLDOWN_S * 1_000,
      cacheMaxAge: settings.AUTH_JWKS_CACHE_MAX_AGE_S * 1_000,
    });
    verify = async (token) => (await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] })).payload;
  } else {
    const secret = new TextEncoder().encode(settings.AUTH_DEV_SECRET ?? '');
    verify = async (token) => (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
  }

  return {
    authenticate(req, res, next) {
      const header = req.header('authorization');
      const match = header ? /^Bearer ([A-Za-z0-9_.~+/=-]{1,8192})$/.exec(header) : null;
      if (!match) return next(unauthorized('A bearer token is required (Authorization: Bearer <JWT>).'));
      verify(match[1]!)
        .then((payload) => {
          checkTokenTimes(payload, settings, Math.floor(Date.now() / 1_000));
          res.locals.principal = principalOf(payload);
          next();
        })
        .catch((err: unknown) => next(unauthorized(rejectionDetail(err))));
    },
    requireScope(...anyOf) {
      return (_req, res, next) => {
        const principal = res.locals.principal as Principal | undefined;
        if (!principal) return next(unauthorized('A bearer token is required.'));
        if (!anyOf.some((s) => principal.scopes.has(s))) {
          return next(new Problem(403, 'forbidden', 'Forbidden', `This operation needs the scope ${anyOf.join(' or ')}.`));
        }
        next();
      };
    },
  };
}
