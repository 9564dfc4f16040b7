/** Test fixtures: payments recorded the way the API records them, and a Kafka event collector. */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import type { Database } from '../db/client';
import { paymentOrders, payments } from '../db/schema';
import type { LedgerEntriesRecordedEvent } from '../ledger/events';
import { createHttpPsp } from '../psp/http-psp.adapter';
import { uniqueId } from './support';

export type SeededOrder = { paymentOrderId: string; paymentId: string; sellerId: string; amountMinor: bigint; currency: string; pspAuthorizationId: string; authExpiresAt: string };

/** Authorizes with the PSP simulator and records an AUTHORIZED payment with one order per seller. */
export async function seedAuthorizedPayment(db: Database, pspBaseUrl: string, options: { token: string; sellers: Array<{ sellerId: string; amountMinor: bigint }> }): Promise<SeededOrder[]> {
  const paymentId = randomUUID();
  const total = options.sellers.reduce((s, o) => s + o.amountMinor, 0n);
  const auth = await createHttpPsp({ baseUrl: pspBaseUrl, timeoutMs: 5_000 }).authorize({ idempotencyKey: `auth:${paymentId}`, amountMinor: total, currency: 'EUR', token: options.token, reference: paymentId });
  if (auth.kind !== 'approved') throw new Error(`the PSP declined ${options.token}`);
  const authExpiresAt = auth.expiresAt ?? new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
  await db.insert(payments).values({ id: paymentId, buyerId: 'buyer', orderId: uniqueId('order'), totalAmountMinor: total, currency: 'EUR', status: 'AUTHORIZED', pspAuthorizationId: auth.authorizationId, authExpiresAt: new Date(authExpiresAt) });
  const orders = options.sellers.map((s, position) => ({ paymentOrderId: randomUUID(), paymentId, sellerId: s.sellerId, amountMinor: s.amountMinor, currency: 'EUR', pspAuthorizationId: auth.authorizationId, authExpiresAt, position }));
  await db.insert(paymentOrders).values(orders.map((o) => ({ id: o.paymentOrderId, paymentId, position: o.position, sellerId: o.sellerId, amountMinor: o.amountMinor, currency: 'EUR', status: 'INITIATED_PENDING' })));
  return orders;
}

/**
 * Collects LedgerEntriesRecorded events from a topic, from the beginning. Anything else on the
 * topic (other tests put poison messages there on purpose) is skipped.
 */
export async function collectLedgerEvents(brokers: string[], topic: string): Promise<{ events: LedgerEntriesRecordedEvent[]; stop: () => Promise<void> }> {
  const kafka = new Kafka({ clientId: 'payorch-test-collector', brokers, logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: uniqueId('collector'), sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const events: LedgerEntriesRecordedEvent[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      try {
        const event = JSON.parse(message.value?.toString() ?? '') as Partial<LedgerEntriesRecordedEvent>;
        if (event.eventType === 'LedgerEntriesRecorded' && Array.isArray(event.data?.entries)) events.push(event as LedgerEntriesRecordedEvent);
      } catch {
        // not JSON: not an event
      }
    },
  });
  return { events, stop: () => consumer.disconnect() };
}
