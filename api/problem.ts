/**
 * Problem details (RFC 9457) for every error the API returns, and the one error middleware that
 * maps failures to them. Expected outcomes are raised as `Problem`s with their status; anything
 * else is a bug and becomes a 500 that hides internals (but is logged in full).
 */
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from '../observability/logger';
import { staticSecurityHeaders } from './security-headers';

export type FieldError = { pointer: string; detail: string };

export type ProblemBody = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  traceId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export class Problem extends Error {
  override readonly name = 'Problem';
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export const problemType = (slug: string): string => `https://payorch.dev/problems/${slug}`;

export function problemBody(req: Request, res: Response, p: Problem): ProblemBody {
  return {
    type: problemType(p.slug),
    title: p.title,
    status: p.status,
    detail: p.detail,
    instance: req.originalUrl.slice(0, 512),
    traceId: String(res.locals.traceId ?? ''),
    ...p.extensions,
  };
}

export function sendProblem(req: Request, res: Response, p: Problem): void {
  for (const [k, v] of Object.entries(p.headers)) res.setHeader(k, v);
  res.status(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problemBody(req, res, p)));
}

/** Errors raised by body-parser (express.json) carry a `type` and a 4xx `status`. */
type ParserError = Error & { type?: string; status?: number; limit?: number };

const UNAVAILABLE_MESSAGE = /timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|Connection terminated|connect ETIMEDOUT|the database system is (starting up|shutting down)|too many clients/i;

/**
 * True when the error (or one of its causes) says a dependency is down or saturated - a pool that
 * cannot hand out a connection, a refused connection, Postgres connection-class errors, gRPC
 * UNAVAILABLE from Temporal - as opposed to a bug.
 */
export function isDependencyUnavailable(err: unknown): boolean {
  for (let e = err as { message?: string; code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
    if (typeof e.code === 'string' && (/^08/.test(e.code) || ['57P01', '57P02', '57P03', '53300'].includes(e.code))) return true;
    if (e.code === 14) return true; // gRPC UNAVAILABLE
  }
  return false;
}

export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof Problem) return sendProblem(req, res, err);
    const parser = err as ParserError;
    switch (parser?.type) {
      case 'entity.too.large':
        return sendProblem(req, res, new Problem(413, 'payload-too-large', 'Payload too large', `The request body exceeds ${parser.limit ?? 'the limit of'} bytes.`));
      case 'entity.parse.failed':
        return sendProblem(req, res, new Problem(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.'));
      case 'encoding.invalid':
        return sendProblem(req, res, new Problem(400, 'invalid-utf8', 'Invalid encoding', 'The request body is not valid UTF-8.'));
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return sendProblem(req, res, new Problem(415, 'unsupported-media-type', 'Unsupported media type', 'The request body must be UTF-8 encoded application/json.'));
      default:
        break;
    }
    if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500) {
      return sendProblem(req, res, new Problem(parser.status, 'bad-request', 'Bad request', 'The request could not be read.'));
    }
    if (isDependencyUnavailable(err)) {
      log.warn({ err, traceId: res.locals.traceId }, 'dependency unavailable');
      return sendProblem(req, res, new Problem(503, 'dependency-unavailable', 'Service unavailable', 'A dependency is unavailable or overloaded; retry with the same Idempotency-Key.', {}, { 'Retry-After': '2' }));
    }
    log.error({ err, traceId: res.locals.traceId }, 'unhandled error');
    sendProblem(req, res, new Problem(500, 'internal-error', 'Internal error', 'An unexpected error occurred; it has been logged with this traceId.'));
  };
}

const SECURITY_HEADERS = staticSecurityHeaders();

/**
 * Requests Node's HTTP parser rejects before Express sees them (control characters in headers,
 * oversized headers, malformed request lines) still get a problem+json answer.
 */
export function clientErrorResponse(err: Error & { code?: string }): string {
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify({
    type: problemType(tooLarge ? 'headers-too-large' : 'bad-request'),
    title: tooLarge ? 'Request header fields too large' : 'Bad request',
    status,
    detail: tooLarge ? 'The request headers exceed the size limit.' : 'The request could not be parsed as HTTP.',
    instance: '',
    traceId: '',
  });
  const security = SECURITY_HEADERS.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${security}Connection: close\r\n\r\n${body}`;
}
