/**
 * Events for merchants (what webhooks deliver), written in the same transaction as the state
 * change they announce. The id is stable - derived from the type and the subject - so a retried
 * transition writes nothing new and receivers can dedupe by it.
 */
import { createHash } from 'node:crypto';
import type { Executor } from './ledger-facts';
import type { MerchantEventType } from '../domain/merchant-event-types';
import { merchantEvents } from './schema';

/** Every event type, defined once (webhook subscriptions validate against it). */
export { MERCHANT_EVENT_TYPES, type MerchantEventType } from '../domain/merchant-event-types';

export type MerchantEvent = { type: MerchantEventType; sellerId: string; subjectId: string; data: Record<string, unknown> };

export const merchantEventId = (type: MerchantEventType, subjectId: string): string => `evt_${createHash('sha256').update(`${type}:${subjectId}`).digest('hex').slice(0, 32)}`;

export async function insertMerchantEvents(tx: Executor, events: readonly MerchantEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx
    .insert(merchantEvents)
    .values(events.map((e) => ({ id: merchantEventId(e.type, e.subjectId), type: e.type, sellerId: e.sellerId, subjectId: e.subjectId, data: e.data })))
    .onConflictDoNothing({ target: merchantEvents.id });
}
