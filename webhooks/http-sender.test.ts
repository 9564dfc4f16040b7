/** The sender against a real receiver on 127.0.0.1: status codes, timeouts, and the URL policy at delivery time. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWebhookReceiver, type WebhookReceiver } from '../test/webhook-receiver';
import { createWebhookSender } from './http-sender';

describe('webhook HTTP sender', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(() => receiver.close());

  test('2xx is delivered, anything else an http_error with the (truncated) answer', async () => {
    const send = createWebhookSender({ policy: 'development', timeoutMs: 2_000, responseMaxBytes: 8 });
    expect(await send(receiver.url('/ok'), '{"a":1}', { 'x-test': '1' })).toMatchObject({ outcome: 'delivered', statusCode: 200, response: 'ok', error: null });
    receiver.script('/fail', [500]);
    expect(await send(receiver.url('/fail'), '{}', {})).toMatchObject({ outcome: 'http_error', statusCode: 500, response: 'scripted', error: 'HTTP 500' });
    expect(receiver.on('/ok')[0]!.body).toBe('{"a":1}');
    expect(receiver.on('/ok')[0]!.headers['x-test']).toBe('1');
  });

  test('production refuses loopback at delivery time, as an IP literal or behind a name (DNS rebinding), without sending', async () => {
    const send = createWebhookSender({ policy: 'production', timeoutMs: 2_000, responseMaxBytes: 64 });
    const before = receiver.received.length;
    const literal = await send(receiver.url('/prod'), '{}', {});
    expect(literal.outcome).toBe('refused_address');
    const byName = await send(receiver.url('/prod').replace('127.0.0.1', 'localhost'), '{}', {});
    expect(byName).toMatchObject({ outcome: 'refused_address', error: expect.stringContaining('localhost resolves to') });
    expect(receiver.received.length).toBe(before);
  });

  test('a receiver that does not answer in time is a timeout; a closed port a network error', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const send = createWebhookSender({ policy: 'development', timeoutMs: 200, responseMaxBytes: 64 });
      const result = await send(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, '{}', {});
      expect(result.outcome).toBe('timeout');
      expect(result.latencyMs).toBeGreaterThanOrEqual(190);
      expect(result.latencyMs).toBeLessThan(1_500);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
    const send = createWebhookSender({ policy: 'development', timeoutMs: 1_000, responseMaxBytes: 64 });
    expect((await send('http://127.0.0.1:1/', '{}', {})).outcome).toBe('network_error');
  });
});
