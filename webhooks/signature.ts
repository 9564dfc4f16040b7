/**
 * Webhook signatures: `Payorch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 * During a secret rotation's grace period the header carries one `v1` per valid secret (newest
 * first), so a receiver holding either secret verifies. The timestamp is signed with the body: a
 * receiver that refuses old timestamps cannot be fed a replayed request.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_TOLERANCE_DEFAULT_S = 300;

const hmacHex = (secret: string, timestampS: number, body: string): string => createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex');

/** The header value for `body`, signed with each secret at `timestampS`. */
export function signWebhookPayload(body: string, secrets: readonly string[], timestampS: number): string {
  if (secrets.length === 0) throw new Error('at least one secret is needed to sign');
  return [`t=${timestampS}`, ...secrets.map((s) => `v1=${hmacHex(s, timestampS, body)}`)].join(',');
}

export type SignatureVerification = { ok: true; timestampS: number } | { ok: false; reason: 'malformed_header' | 'timestamp_outside_tolerance' | 'no_matching_signature' };

/**
 * Verifies a webhook as a receiver should: parse the header, refuse a timestamp further than
 * `toleranceS` from now (replays), then compare every `v1` with the expected HMAC of the raw body
 * in constant time. `payload` must be the raw request body, byte for byte (not re-serialised JSON).
 */
export function verifyWebhookSignature(options: { payload: string | Buffer; header: string | undefined | null; secret: string; toleranceS?: number; nowS?: number }): SignatureVerification {
  const { header, secret } = options;
  if (typeof header !== 'string' || header.length > 4_096) return { ok: false, reason: 'malformed_header' };
  let timestampS: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestampS = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestampS === undefined || candidates.length === 0) return { ok: false, reason: 'malformed_header' };
  const nowS = options.nowS ?? Math.floor(Date.now() / 1_000);
  if (Math.abs(nowS - timestampS) > (options.toleranceS ?? SIGNATURE_TOLERANCE_DEFAULT_S)) return { ok: false, reason: 'timestamp_outside_tolerance' };
  const body = typeof options.payload === 'string' ? options.payload : options.payload.toString('utf8');
  const expected = Buffer.from(hmacHex(secret, timestampS, body), 'hex');
  // Every candidate is compared (no early exit), each in constant time; lengths are fixed (32 bytes).
  let matched = false;
  for (const candidate of candidates) {
    if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) matched = true;
  }
  return matched ? { ok: true, timestampS } : { ok: false, reason: 'no_matching_signature' };
}
