/**
 * A real HTTP receiver for webhook tests and the bench, on 127.0.0.1: records every request with
 * its raw body and headers, and answers per path - by default 200, or a scripted sequence of
 * status codes (e.g. three 500s, then 200).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedWebhook = { path: string; headers: http.IncomingHttpHeaders; body: string; status: number };

export type WebhookReceiver = {
  url: (path: string) => string;
  received: ReceivedWebhook[];
  /** The next answers on this path, in order; afterwards 200. */
  script: (path: string, statuses: number[]) => void;
  on: (path: string) => ReceivedWebhook[];
  close: () => Promise<void>;
};

export async function startWebhookReceiver(options: { record?: boolean } = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const scripts = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const status = scripts.get(path)?.shift() ?? 200;
      if (options.record !== false) received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `scripted ${status}`);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    script: (path, statuses) => scripts.set(path, [...statuses]),
    on: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
