/**
 * The closed lists of merchant webhooks, defined once: the TypeScript types, the zod enums, the
 * OpenAPI enums and the migration's CHECK constraints derive from them.
 */

/** ENABLED endpoints receive events; DISABLED ones (failing for days, see disabledReason) do not. */
export const WEBHOOK_ENDPOINT_STATUSES = ['ENABLED', 'DISABLED'] as const;
export type WebhookEndpointStatus = (typeof WEBHOOK_ENDPOINT_STATUSES)[number];

/** PENDING is retried until DELIVERED (a 2xx) or FAILED (retry window over, endpoint disabled or deleted). */
export const WEBHOOK_DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** What one delivery attempt came to, the label of the deliveries metric. */
export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'http_error', 'timeout', 'network_error', 'refused_address'] as const;
export type WebhookAttemptOutcome = (typeof WEBHOOK_ATTEMPT_OUTCOMES)[number];

/** The header that carries the signature. */
export const SIGNATURE_HEADER = 'Payorch-Signature';

/** The last error of the deliveries failed because their endpoint was disabled (re-sent when it is enabled again). */
export const WEBHOOK_ENDPOINT_DISABLED_ERROR = 'endpoint disabled';
