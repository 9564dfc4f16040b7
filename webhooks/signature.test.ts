import { createHmac } from 'node:crypto';
import { signWebhookPayload, verifyWebhookSignature } from './signature';

describe('webhook signatures', () => {
  const body = JSON.stringify({ id: 'evt_1', type: 'payment_order.captured', createdAt: '2026-11-24T00:00:00.000Z', data: { a: 1 } });
  const nowS = 1_795_000_000;

  test('a signed body verifies; the header has the documented shape', () => {
    const header = signWebhookPayload(body, ['whsec_a'], nowS);
    expect(header).toMatch(/^t=1795000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_a', nowS })).toEqual({ ok: true, timestampS: nowS });
  });

  test('the documented formula, computed independently: v1 = hex HMAC-SHA256(secret, t + "." + body)', () => {
    const expected = createHmac('sha256', 'whsec_a').update(`${nowS}.${body}`).digest('hex');
    expect(signWebhookPayload(body, ['whsec_a'], nowS)).toBe(`t=${nowS},v1=${expected}`);
    expect(verifyWebhookSignature({ payload: body, header: `t=${nowS},v1=${expected}`, secret: 'whsec_a', nowS }).ok).toBe(true);
  });

  test('a tampered body, another secret, an old or future timestamp fail', () => {
    const header = signWebhookPayload(body, ['whsec_a'], nowS);
    expect(verifyWebhookSignature({ payload: body.replace('"a":1', '"a":2'), header, secret: 'whsec_a', nowS })).toEqual({ ok: false, reason: 'no_matching_signature' });
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_b', nowS })).toEqual({ ok: false, reason: 'no_matching_signature' });
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_a', nowS: nowS + 301 })).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_a', nowS: nowS - 301 })).toEqual({ ok: false, reason: 'timestamp_outside_tolerance' });
    // Moving the timestamp breaks the signature: it is signed with the body.
    const forged = header.replace(`t=${nowS}`, `t=${nowS + 100}`);
    expect(verifyWebhookSignature({ payload: body, header: forged, secret: 'whsec_a', nowS: nowS + 100 })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });

  test('malformed headers fail', () => {
    for (const header of [undefined, '', 't=abc,v1=00', `v1=${'0'.repeat(64)}`, `t=${nowS}`, `t=${nowS},v1=XYZ`]) {
      expect(verifyWebhookSignature({ payload: body, header, secret: 's', nowS })).toEqual({ ok: false, reason: 'malformed_header' });
    }
  });

  test('during a rotation both secrets verify', () => {
    const header = signWebhookPayload(body, ['whsec_new', 'whsec_old'], nowS);
    expect(header.split(',')).toHaveLength(3);
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_new', nowS }).ok).toBe(true);
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_old', nowS }).ok).toBe(true);
    expect(verifyWebhookSignature({ payload: body, header, secret: 'whsec_other', nowS }).ok).toBe(false);
  });
});
