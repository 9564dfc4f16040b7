/**
 * Every merchant event type, defined once: the events table's writers, webhook subscriptions
 * (zod, OpenAPI) and the webhook_endpoints CHECK derive from it. The payout types are written by
 * the payout workflow; endpoints may subscribe to them before it exists.
 */
export const MERCHANT_EVENT_TYPES = [
  'payment_order.captured',
  'payment_order.capture_failed',
  'payment_order.voided',
  'refund.succeeded',
  'refund.failed',
  'payout.paid',
  'payout.failed',
  'payout.returned',
] as const;
export type MerchantEventType = (typeof MERCHANT_EVENT_TYPES)[number];
