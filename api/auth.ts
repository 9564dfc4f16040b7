/**
 * Bearer-token authentication with `jose`. Development verifies HS256 tokens signed with
 * AUTH_DEV_SECRET; production verifies RS256/ES256 tokens against a JWKS URL. The algorithm list
 * is fixed per mode, so `alg: none` and algorithm-confusion tokens are rejected; issuer, audience
 * and expiry are always checked.
 */
import type { NextFunction, Request, Response } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/config';
import { Problem } from './problem';

export type Principal = { subject: string; scopes: ReadonlySet<string>; sellerId?: string };

export type Authenticator = {
  authenticate: (req: Request, res: Response, next: NextFunction) => void;
  requireScope: (...anyOf: string[]) => (req: Request, res: Response, next: NextFunction) => void;
};

const unauthorized = (detail: string) =>
  new Problem(401, 'unauthorized', 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });

function scopesOf(payload: JWTPayload): Set<string> {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === 'string') return new Set(raw.split(' ').filter((s) => s.length > 0));
  if (Array.isArray(raw)) return new Set(raw.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

export function createAuthenticator(config: Pick<Config, 'AUTH_MODE' | 'AUTH_DEV_SECRET' | 'AUTH_JWKS_URL' | 'AUTH_ISSUER' | 'AUTH_AUDIENCE'>): Authenticator {
  const options = { issuer: config.AUTH_ISSUER, audience: config.AUTH_AUDIENCE, clockTolerance: 5 };
  let verify: (token: string) => Promise<JWTPayload>;
  if (config.AUTH_MODE === 'jwks') {
    const jwks: JWTVerifyGetKey = createRemoteJWKSet(new URL(config.AUTH_JWKS_URL!), { timeoutDuration: 3_000, cooldownDuration: 30_000 });
    verify = async (token) => (await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] })).payload;
  } else {
    const secret = new TextEncoder().encode(config.AUTH_DEV_SECRET ?? '');
    verify = async (token) => (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
  }

  return {
    authenticate(req, res, next) {
      const header = req.header('authorization');
      const match = header ? /^Bearer ([A-Za-z0-9_.~+/=-]{1,8192})$/.exec(header) : null;
      if (!match) return next(unauthorized('A bearer token is required (Authorization: Bearer <JWT>).'));
      verify(match[1]!)
        .then((payload) => {
          if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
            throw new Error('the token has no subject');
          }
          const principal: Principal = {
            subject: payload.sub,
            scopes: scopesOf(payload),
            ...(typeof payload.seller_id === 'string' ? { sellerId: payload.seller_id } : {}),
          };
          res.locals.principal = principal;
          next();
        })
        .catch((err: unknown) => {
          const code = (err as { code?: string }).code;
          next(unauthorized(code === 'ERR_JWT_EXPIRED' ? 'The token has expired.' : 'The token is invalid.'));
        });
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
