/**
 * How a Postgres error is read, decided in one place: a refusal of the data itself (a constraint or
 * a value the database rejects - retrying the same statement fails the same way) versus anything
 * else (connection lost, server restarting, a timeout, a serialization conflict), which is an
 * outage and is retried.
 */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : e.cause?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** SQLSTATE class 22 (data exception) or 23 (integrity constraint violation). */
export function isDataRejection(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

export const isUniqueViolation = (err: unknown): boolean => pgErrorCode(err) === '23505';

/** The constraint a violation names (Postgres reports it), if any. */
export function constraintOf(err: unknown): string | undefined {
  const e = err as { constraint?: unknown; cause?: { constraint?: unknown } };
  const name = e.constraint ?? e.cause?.constraint;
  return typeof name === 'string' ? name : undefined;
}
