/**
 * A webhook receiver for benchmarks: an HTTP server on 127.0.0.1 answering 200 to every delivery,
 * counting arrivals per event id (duplicates) and the latency from the event's createdAt; and
 * `register`, which points one endpoint per seller at it (inserted directly, as enabled endpoints
 * subscribed to `payment_order.captured`) and returns a function that deletes them again.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inArray } from 'drizzle-orm';
import type { Database } from '../db/client';
import { webhookEndpoints } from '../db/schema';

export type WebhookSink = {
  url: string;
  /** Event id -> arrivals. */
  seen: Map<string, number>;
  /** Event createdAt -> first arrival, ms. */
  latencies: number[];
  lastArrival: () => number;
  reset: () => void;
  register: (db: Database, sellers: string[], tag: string) => Promise<() => Promise<void>>;
  close: () => void;
};

export async function startWebhookSink(): Promise<WebhookSink> {
  const seen = new Map<string, number>();
  const latencies: number[] = [];
  let lastArrival = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; createdAt: string };
      const now = Date.now();
      const count = (seen.get(event.id) ?? 0) + 1;
      seen.set(event.id, count);
      if (count === 1) latencies.push(now - Date.parse(event.createdAt));
      lastArrival = now;
      res.writeHead(200).end('ok');
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    seen,
    latencies,
    lastArrival: () => lastArrival,
    reset: () => {
      seen.clear();
      latencies.length = 0;
    },
    async register(db, sellers, tag) {
      const ids = sellers.map(() => randomUUID());
      for (let i = 0; i < sellers.length; i += 500) {
        await db.insert(webhookEndpoints).values(sellers.slice(i, i + 500).map((sellerId, j) => ({ id: ids[i + j]!, sellerId, url, events: ['payment_order.captured'], secret: `whsec_bench_${tag}`, status: 'ENABLED' })));
      }
      return async () => {
        for (let i = 0; i < ids.length; i += 500) await db.delete(webhookEndpoints).where(inArray(webhookEndpoints.id, ids.slice(i, i + 500)));
      };
    },
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
