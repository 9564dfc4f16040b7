/** The webhook part of the OpenAPI document (paths and schemas), spread into api/openapi.ts. */
import { MERCHANT_EVENT_TYPES } from '../domain/merchant-event-types';
import { WEBHOOK_ATTEMPT_OUTCOMES, WEBHOOK_DELIVERY_STATUSES, WEBHOOK_ENDPOINT_STATUSES } from '../domain/webhooks';

const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
const endpointId = { name: 'endpointId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const deliveryId = { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = {
  '401': problemResponse('Missing or invalid bearer token.'),
  '403': problemResponse('Neither a seller token nor the scope webhooks:admin (or a seller naming another seller).'),
  '429': problemResponse('A rate limit is used up; retry after Retry-After seconds.'),
};
const notFound = problemResponse("No endpoint (or delivery) has this id for this caller (another seller's is 404, as an unknown id).");
const ACCESS = 'A seller token manages its own endpoints; the scope webhooks:admin manages any seller\'s (naming the seller: sellerId in the body or the query).';

export const webhookPaths = {
  '/api/v1/webhook-endpoints': {
    post: {
      operationId: 'createWebhookEndpoint',
      summary: 'Register a webhook endpoint; the signing secret is in this answer only',
      description: `${ACCESS} The URL must be https with a public address (http://127.0.0.1 is accepted in development); private, loopback, link-local and metadata addresses are refused, also behind a host name, and checked again at every delivery. Deliveries are POSTs of { id, type, createdAt, data } signed with Payorch-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>; at-least-once, retried with jittered backoff for up to 3 days, order not promised: dedupe by id.`,
      requestBody: { required: true, content: json('CreateWebhookEndpointRequest') },
      responses: {
        '201': { description: 'Registered.', headers: { Location: { schema: { type: 'string' } } }, content: json('WebhookEndpointWithSecret') },
        '400': problemResponse('Invalid body (every violated rule listed) or a refused URL (problem type ending invalid-webhook-url).'),
        '409': problemResponse('This seller already has an endpoint with this URL (endpointId in the problem).'),
        ...common,
      },
    },
    get: {
      operationId: 'listWebhookEndpoints',
      summary: "The seller's webhook endpoints (at most 100)",
      parameters: [{ name: 'sellerId', in: 'query', required: false, schema: { $ref: '#/components/schemas/Id' }, description: 'Required with webhooks:admin.' }],
      responses: { '200': { description: 'The endpoints.', content: json('WebhookEndpointList') }, '400': problemResponse('An operator did not name the seller.'), ...common },
    },
  },
  '/api/v1/webhook-endpoints/{endpointId}': {
    get: { operationId: 'getWebhookEndpoint', summary: 'A webhook endpoint (without its secret)', parameters: [endpointId], responses: { '200': { description: 'The endpoint.', content: json('WebhookEndpoint') }, '404': notFound, ...common } },
    delete: { operationId: 'deleteWebhookEndpoint', summary: 'Delete an endpoint and its delivery log', parameters: [endpointId], responses: { '204': { description: 'Deleted.' }, '404': notFound, ...common } },
  },
  '/api/v1/webhook-endpoints/{endpointId}/rotate-secret': {
    post: {
      operationId: 'rotateWebhookSecret',
      summary: 'A new signing secret (in this answer only); the previous one also signs until previousSecretExpiresAt',
      parameters: [endpointId],
      responses: { '200': { description: 'Rotated.', content: json('WebhookEndpointWithSecret') }, '404': notFound, ...common },
    },
  },
  '/api/v1/webhook-endpoints/{endpointId}/enable': {
    post: {
      operationId: 'enableWebhookEndpoint',
      summary: 'Re-enables a disabled endpoint and delivers what it missed',
      description:
        'The deliveries failed when the endpoint was disabled are sent again (new deliveries referring to them, same event ids), and the events of its types produced while it was disabled are delivered; redelivering counts them. Enabling an enabled endpoint changes nothing (redelivering 0).',
      parameters: [endpointId],
      responses: {
        '200': { description: 'Enabled.', content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/WebhookEndpoint' }, { type: 'object', required: ['redelivering'], properties: { redelivering: { type: 'integer', minimum: 0 } } }] } } } },
        '404': notFound,
        ...common,
      },
    },
  },
  '/api/v1/webhook-endpoints/{endpointId}/deliveries': {
    get: {
      operationId: 'listWebhookDeliveries',
      summary: 'The delivery log, newest first',
      parameters: [
        endpointId,
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        { name: 'status', in: 'query', required: false, schema: { $ref: '#/components/schemas/WebhookDeliveryStatus' } },
      ],
      responses: { '200': { description: 'Deliveries.', content: { 'application/json': { schema: { type: 'object', properties: { deliveries: { type: 'array', items: { $ref: '#/components/schemas/WebhookDelivery' } } } } } } }, '400': problemResponse('Invalid limit or status.'), '404': notFound, ...common },
    },
  },
  '/api/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}': {
    get: {
      operationId: 'getWebhookDelivery',
      summary: 'A delivery with every attempt (status code, latency, the start of the answer)',
      parameters: [endpointId, deliveryId],
      responses: { '200': { description: 'The delivery.', content: json('WebhookDeliveryWithAttempts') }, '404': notFound, ...common },
    },
  },
  '/api/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/resend': {
    post: {
      operationId: 'resendWebhookDelivery',
      summary: "Send the delivery's event again, as a new delivery (same event id)",
      parameters: [endpointId, deliveryId],
      responses: { '202': { description: 'Queued.', content: json('WebhookDelivery') }, '404': notFound, '409': problemResponse('The endpoint is disabled.'), ...common },
    },
  },
};

const endpointProperties = {
  id: { type: 'string', format: 'uuid' },
  sellerId: { $ref: '#/components/schemas/Id' },
  url: { type: 'string', format: 'uri' },
  events: { type: 'array', items: { $ref: '#/components/schemas/MerchantEventType' } },
  status: { type: 'string', enum: [...WEBHOOK_ENDPOINT_STATUSES] },
  disabledReason: { type: ['string', 'null'] },
  failingSince: { type: ['string', 'null'], format: 'date-time' },
  previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time' },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
};
const deliveryProperties = {
  deliveryId: { type: 'string', format: 'uuid' },
  endpointId: { type: 'string', format: 'uuid' },
  eventId: { type: 'string' },
  eventType: { $ref: '#/components/schemas/MerchantEventType' },
  status: { $ref: '#/components/schemas/WebhookDeliveryStatus' },
  attempts: { type: 'integer', minimum: 0 },
  lastStatusCode: { type: ['integer', 'null'] },
  lastError: { type: ['string', 'null'] },
  lastLatencyMs: { type: ['integer', 'null'] },
  lastResponse: { type: ['string', 'null'], description: 'The start of the last answer (at most 1 KiB).' },
  nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
  deliveredAt: { type: ['string', 'null'], format: 'date-time' },
  resendOf: { type: ['string', 'null'], format: 'uuid' },
  createdAt: { type: 'string', format: 'date-time' },
};

export const webhookSchemas = {
  MerchantEventType: { type: 'string', enum: [...MERCHANT_EVENT_TYPES] },
  WebhookDeliveryStatus: { type: 'string', enum: [...WEBHOOK_DELIVERY_STATUSES] },
  CreateWebhookEndpointRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['url', 'events'],
    properties: {
      url: { type: 'string', maxLength: 2048 },
      events: { type: 'array', minItems: 1, uniqueItems: true, items: { $ref: '#/components/schemas/MerchantEventType' } },
      sellerId: { $ref: '#/components/schemas/Id', description: 'Only with webhooks:admin.' },
    },
  },
  WebhookEndpoint: { type: 'object', properties: endpointProperties },
  WebhookEndpointWithSecret: { type: 'object', properties: { ...endpointProperties, secret: { type: 'string', description: 'whsec_…; shown only here.' } } },
  WebhookEndpointList: { type: 'object', properties: { endpoints: { type: 'array', items: { $ref: '#/components/schemas/WebhookEndpoint' } } } },
  WebhookDelivery: { type: 'object', properties: deliveryProperties },
  WebhookDeliveryWithAttempts: {
    type: 'object',
    properties: {
      ...deliveryProperties,
      attemptLog: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            attempt: { type: 'integer' },
            outcome: { type: 'string', enum: [...WEBHOOK_ATTEMPT_OUTCOMES] },
            statusCode: { type: ['integer', 'null'] },
            latencyMs: { type: 'integer' },
            response: { type: ['string', 'null'] },
            error: { type: ['string', 'null'] },
            at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
};
