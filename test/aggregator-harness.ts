/**
 * Helpers for the balance aggregator's fault tests: a Redis server of the test's own (so it can be
 * broken without breaking anyone else), a TCP proxy in front of Postgres that can be cut (the
 * fault is injected through the dependency, not through a hook in the code), the ledger's real
 * producer (facts -> journal -> LedgerEntriesRecorded) publishing into a test topic through a
 * producer that can drop or divert chosen events, and a metrics scraper.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Message, type ProducerRecord } from 'kafkajs';
import { createLedgerActivities } from '../activities/ledger.activities';
import type { Database } from '../db/client';
import { insertLedgerFacts } from '../db/ledger-facts';
import { dlqTopicOf } from '../kafka/topics';
import { freePort } from './processes';
import { waitFor } from './support';

export type TestRedis = { port: number; url: string; admin: Redis; stop: () => Promise<void> };

/** A redis-server of the test's own on a free port, without persistence. */
export async function startRedis(dataDir: string): Promise<TestRedis> {
  const port = await freePort();
  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir, '--protected-mode', 'no'], { stdio: 'ignore' });
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  await waitFor('the test redis-server', async () => (await admin.ping().catch(() => undefined)) === 'PONG', 10_000, 100);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    admin,
    stop: async () => {
      admin.disconnect();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

export type TcpProxy = { port: number; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> };

/** A TCP proxy to 127.0.0.1:targetPort; `cut` drops every connection and refuses new ones until `restore`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listen = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
  });
  await listen();
  return { port, cut: stop, restore: listen, close: async () => (server.listening ? stop() : undefined) };
}

/** What the test producer does with one event: send it, drop it (a lost message), or put it in the DLQ. */
export type Route = 'send' | 'drop' | 'dlq';

/**
 * The ledger's own journal and publish code (activities/ledger.activities.ts) on the test
 * database, publishing to `topic` through a producer whose routing the test chooses per event.
 */
export async function createTestLedger(options: { db: Database; brokers: string[]; topic: string; commissionBps: number }) {
  const kafka = new Kafka({ clientId: 'aggregator-test-ledger', brokers: options.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let route: (streamId: string, sequence: number) => Route = () => 'send';
  const routed = {
    async send(record: ProducerRecord) {
      const keep: Message[] = [];
      const dead: Message[] = [];
      for (const m of record.messages) {
        const choice = route(String(m.key), Number(m.headers?.sequence));
        if (choice === 'send') keep.push(m);
        if (choice === 'dlq') dead.push({ ...m, headers: { ...m.headers, 'x-error-type': 'ReplyError', 'x-error-message': "READONLY You can't write against a read only replica.", 'x-original-topic': options.topic } });
      }
      if (dead.length > 0) await producer.send({ topic: dlqTopicOf(options.topic), acks: -1, messages: dead });
      return keep.length > 0 ? producer.send({ ...record, messages: keep }) : [];
    },
    disconnect: () => producer.disconnect(),
  };
  const ledger = createLedgerActivities({ db: options.db, producer: routed, topic: options.topic });
  return {
    /** Journals one CAPTURE of `amountMinor` for the seller as its own batch (the stream's next sequence). */
    async commit(sellerId: string, amountMinor: number): Promise<void> {
      await insertLedgerFacts(options.db, [{ entryType: 'CAPTURE', paymentOrderId: randomUUID(), paymentId: randomUUID(), sellerId, amountMinor: String(amountMinor), currency: 'EUR', commissionBps: options.commissionBps }]);
      const journaled = await ledger.journalPending(sellerId, 1);
      if (journaled.entries !== 1) throw new Error(`expected one entry journaled for ${sellerId}, got ${journaled.entries}`);
    },
    /** Publishes the seller's unpublished batches, in sequence order, through the routing. */
    async publish(sellerId: string): Promise<void> {
      for (;;) {
        const result = await ledger.publishPending(sellerId);
        if (!result.unpublished) return;
        if (result.busy) await new Promise((r) => setTimeout(r, 50));
      }
    },
    routeWith(next: (streamId: string, sequence: number) => Route) {
      route = next;
    },
    stop: () => producer.disconnect(),
  };
}

/** The sum of one series (all label sets matching `labels`) in a Prometheus text scrape. */
export async function scrape(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => set[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  if (!found) throw new Error(`no series ${name} ${JSON.stringify(labels)} on port ${port}`);
  return sum;
}

export const dataDirFor = (root: string, name: string): string => path.join(root, 'test-redis', name);
