/**
 * The HTTP adapter that sends one webhook: a POST with a hard timeout, no redirects followed (a
 * redirect to an internal address would bypass the URL policy), and the answer read only up to a
 * small limit. The URL policy is enforced on the address the socket connects to: IP literals are
 * checked before connecting, host names inside the DNS lookup the connection uses, so a name that
 * now resolves to a private address (DNS rebinding) is refused at delivery time.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { WebhookAttemptOutcome } from '../domain/webhooks';
import { refusedAddress, type WebhookUrlPolicy } from './url-policy';

export type WebhookSendResult = { outcome: WebhookAttemptOutcome; statusCode: number | null; latencyMs: number; response: string | null; error: string | null };

export type WebhookSender = (url: string, body: string, headers: Record<string, string>) => Promise<WebhookSendResult>;

class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup that fails when any address of the name is refused by the policy. */
function guardedLookup(policy: WebhookUrlPolicy) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.find((a) => refusedAddress(a.address, policy) !== undefined);
      if (refused) return callback(new RefusedAddressError(`${hostname} resolves to ${refused.address}, which the URL policy refuses`), []);
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

export function createWebhookSender(options: { policy: WebhookUrlPolicy; timeoutMs: number; responseMaxBytes: number; userAgent?: string }): WebhookSender {
  const lookup = guardedLookup(options.policy);
  const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64, lookup }), https: new https.Agent({ keepAlive: true, maxSockets: 64, lookup }) };

  return (rawUrl, body, headers) => {
    const started = performance.now();
    const done = (r: Omit<WebhookSendResult, 'latencyMs'>): WebhookSendResult => ({ ...r, latencyMs: Math.round(performance.now() - started) });
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return Promise.resolve(done({ outcome: 'refused_address', statusCode: null, response: null, error: 'the URL cannot be parsed' }));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0) {
      const refused = refusedAddress(host, options.policy);
      if (refused) return Promise.resolve(done({ outcome: 'refused_address', statusCode: null, response: null, error: refused }));
    }
    const isHttps = url.protocol === 'https:';
    return new Promise<WebhookSendResult>((resolve) => {
      let settled = false;
      const finish = (r: Omit<WebhookSendResult, 'latencyMs'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(r));
      };
      const payload = Buffer.from(body, 'utf8');
      const req = (isHttps ? https : http).request(url, {
        method: 'POST',
        agent: isHttps ? agents.https : agents.http,
        headers: { 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': options.userAgent ?? 'payorch-webhooks/1', ...headers },
      });
      // One deadline for the whole exchange (connect, send, first bytes of the answer).
      const timer = setTimeout(() => {
        req.destroy();
        finish({ outcome: 'timeout', statusCode: null, response: null, error: `no answer within ${options.timeoutMs} ms` });
      }, options.timeoutMs);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const complete = () => {
          const statusCode = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).subarray(0, options.responseMaxBytes).toString('utf8');
          const ok = statusCode >= 200 && statusCode < 300;
          finish({ outcome: ok ? 'delivered' : 'http_error', statusCode, response: text.length > 0 ? text : null, error: ok ? null : `HTTP ${statusCode}` });
        };
        res.on('data', (chunk: Buffer) => {
          if (size < options.responseMaxBytes) chunks.push(chunk);
          size += chunk.length;
          // Enough read: the rest of a large answer is not our business.
          if (size >= options.responseMaxBytes) {
            complete();
            res.destroy();
          }
        });
        res.on('end', complete);
        res.on('error', complete);
      });
      req.on('error', (err) => {
        if (err instanceof RefusedAddressError) finish({ outcome: 'refused_address', statusCode: null, response: null, error: err.message });
        else finish({ outcome: 'network_error', statusCode: null, response: null, error: `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`.slice(0, 300) });
      });
      req.end(payload);
    });
  };
}
