/** Request bodies of the webhook endpoints API, validated with zod into problem+json field errors. */
import { z } from 'zod';
import { MERCHANT_EVENT_TYPES } from '../domain/merchant-event-types';
import { WEBHOOK_URL_MAX_LENGTH } from '../webhooks/url-policy';
import type { FieldError } from './problem';

const SELLER_ID = /^[^\p{C}]{1,64}$/u;

export const createWebhookEndpointSchema = z.strictObject({
  url: z.string({ error: 'must be a string' }).min(1, { error: 'is required' }).max(WEBHOOK_URL_MAX_LENGTH, { error: `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters` }),
  events: z
    .array(z.enum(MERCHANT_EVENT_TYPES, { error: `must be one of ${MERCHANT_EVENT_TYPES.join(', ')}` }), { error: 'must be an array of event types' })
    .min(1, { error: 'must list at least one event type' })
    .max(MERCHANT_EVENT_TYPES.length, { error: `must list at most ${MERCHANT_EVENT_TYPES.length} event types` })
    .refine((events) => new Set(events).size === events.length, { error: 'must not list an event type twice' }),
  /** Only with the operator scope (a seller token registers for its own seller id). */
  sellerId: z.string({ error: 'must be a string' }).regex(SELLER_ID, { error: 'must be 1-64 printable characters' }).optional(),
});
export type CreateWebhookEndpointRequest = z.infer<typeof createWebhookEndpointSchema>;

const pointer = (path: PropertyKey[]): string => (path.length === 0 ? '' : `/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`);

export function validateCreateWebhookEndpoint(body: unknown): { ok: true; value: CreateWebhookEndpointRequest } | { ok: false; errors: FieldError[] } {
  const parsed = createWebhookEndpointSchema.safeParse(body);
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors: FieldError[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) errors.push({ pointer: pointer([...issue.path, key]), detail: 'is not a known field' });
    else errors.push({ pointer: pointer(issue.path), detail: issue.message });
  }
  return { ok: false, errors: errors.slice(0, 20) };
}
