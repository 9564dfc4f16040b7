/**
 * The OpenAPI 3.1 document served at /openapi.json. It describes exactly the routes of
 * api/app.ts; a test checks that every documented path answers and every route is documented.
 */
import { MISMATCH_KINDS, PAYOUT_STATUSES } from '../domain/money-out';
import { PAYMENT_ORDER_STATUSES, PAYMENT_STATUSES, REFUND_STATUSES } from '../domain/payment-status';
import { READ_VIEWS } from './ownership';
import { webhookPaths, webhookSchemas } from './openapi.webhooks';
import { PAYMENT_TOKEN_PATTERN } from './payment.validation';

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/problem+json': { schema: problem } },
});
const retryAfter = { 'Retry-After': { schema: { type: 'integer', minimum: 0 }, description: 'Seconds to wait before retrying.' } };
/** On every rate-limited route's answers: the budget (of the client's and the IP's) closest to running out. */
const rateLimitHeaders = {
  'RateLimit-Limit': { $ref: '#/components/headers/RateLimit-Limit' },
  'RateLimit-Remaining': { $ref: '#/components/headers/RateLimit-Remaining' },
  'RateLimit-Reset': { $ref: '#/components/headers/RateLimit-Reset' },
};
const tooManyRequests = problemResponse('A rate limit (per client or per IP) is used up; retry after Retry-After seconds.', { ...retryAfter, ...rateLimitHeaders });

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Marketplace payments orchestrator',
    version: '1.0.0',
    description:
      'Checkout of multi-seller orders: synchronous authorization, one durable PaymentOrder workflow per seller, double-entry ledger. Money is always integer minor units with an ISO 4217 currency. Tokens must carry exp and live at most AUTH_TOKEN_MAX_LIFETIME_S (default 3600 s). Every /api/v1 route is rate-limited per client (the token azp, else sub) and per IP, with separate budgets for writes (POST) and reads (GET); answers carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset, and a request over a budget gets 429 with Retry-After.',
  },
  servers: [{ url: 'http://127.0.0.1:3000' }],
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/payments': {
      post: {
        operationId: 'createPayment',
        summary: 'Check out one order paid by one buyer to several sellers',
        description:
          'Validates, authorizes the total synchronously with the PSP, records the payment and one PaymentOrder per seller, and answers 202 (authorized; seller captures run asynchronously) or 402 (declined). Requires scope payments:write.',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: true,
            schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
            description:
              'Replaying a completed key returns the first response with Idempotent-Replayed: true; 409 while the first request is in flight; 422 if the body differs. Keys are kept for IDEMPOTENCY_KEY_RETENTION_S (default 7 days) after their first request: a key reused after that is a new request (a new payment).',
          },
        ],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/CreatePaymentRequest' } } },
        },
        responses: {
          '202': {
            description: 'Authorized; every PaymentOrder will reach CAPTURED or CAPTURE_FAILED.',
            headers: {
              Location: { schema: { type: 'string' }, description: '/api/v1/payments/{paymentId}' },
              'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] }, description: 'Present when this is a replayed response.' },
              ...rateLimitHeaders,
            },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PaymentAccepted' } } },
          },
          '400': problemResponse('Invalid body or Idempotency-Key; every violated rule is listed in errors.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '402': {
            description: 'The PSP declined the authorization.',
            content: { 'application/problem+json': { schema: { allOf: [problem, { type: 'object', properties: { paymentId: { type: 'string', format: 'uuid' }, declineReason: { type: 'string' } } }] } } },
          },
          '403': problemResponse('The token lacks the payments:write scope.'),
          '409': problemResponse('A request with the same Idempotency-Key is still in flight.', retryAfter),
          '413': problemResponse('The body exceeds 64 KiB.'),
          '415': problemResponse('The body is not application/json.'),
          '422': problemResponse('The Idempotency-Key was used with a different body.'),
          '429': tooManyRequests,
          '503': problemResponse('A dependency (the PSP, the database) is unavailable, or the rate limiter cannot reach Redis and RATE_LIMIT_WRITES_ON_REDIS_DOWN=closed; nothing was charged.', retryAfter),
        },
      },
    },
    '/api/v1/payments/{paymentId}': {
      get: {
        operationId: 'getPayment',
        summary: 'A payment and its PaymentOrders with live status, capture attempts and last PSP error',
        description:
          'Reads are owned. A seller token (one with a seller_id claim, whatever its scopes) sees the seller view: only its own PaymentOrder, with totalAmount its share and status following its order alone; a payment without an order of that seller is 404, exactly as an unknown id. Any other token needs payments:read or payments:write and sees the full view.',
        parameters: [{ name: 'paymentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          '200': { description: 'The payment, in the view the token may see.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/Payment' } } } },
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('Neither a seller token nor the scope payments:read or payments:write (answered before the id is looked up).'),
          '404': problemResponse('No payment has this id - or, for a seller token, none of its orders is in it.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/payments/{paymentId}/cancel': {
      post: {
        operationId: 'cancelPayment',
        summary: 'Cancel a payment before capture: void every order not yet captured',
        description:
          "Requires payments:write and an Idempotency-Key (same semantics as checkout). Each order not yet final is told to stop; it voids its share of the authorization at the PSP, which decides the race with a capture already sent: voided orders end VOIDED (with AUTH_RELEASE), captured ones stay CAPTURED (they need refunds). The answer waits up to CANCEL_WAIT_MS for the outcomes; `cancellation` lists the orders voided, captured, failed, and still pending (poll the payment).",
        parameters: [
          { name: 'paymentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } },
        ],
        responses: {
          '202': {
            description: 'The cancellation is recorded; the payment as it stands, with what happened to each order.',
            headers: { Location: { schema: { type: 'string' } }, 'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] } }, ...rateLimitHeaders },
            content: {
              'application/json': {
                schema: {
                  allOf: [
                    { $ref: '#/components/schemas/Payment' },
                    {
                      type: 'object',
                      required: ['cancellation'],
                      properties: {
                        cancellation: {
                          type: 'object',
                          required: ['voided', 'captured', 'failed', 'pending'],
                          properties: Object.fromEntries(['voided', 'captured', 'failed', 'pending'].map((k) => [k, { type: 'array', items: { type: 'string', format: 'uuid' } }])),
                        },
                      },
                    },
                  ],
                },
              },
            },
          },
          '400': problemResponse('Missing or invalid Idempotency-Key.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token lacks payments:write.'),
          '404': problemResponse('No payment has this id.'),
          '409': problemResponse('Nothing is left to cancel (every order is final), or the same key is in flight.'),
          '422': problemResponse('The Idempotency-Key was used for another request.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/payments/{paymentId}/refunds': {
      post: {
        operationId: 'createRefund',
        summary: 'Refund (part of) a captured PaymentOrder',
        description:
          'Requires refunds:write and an Idempotency-Key (same semantics as checkout). Partial and repeated refunds are allowed; refunds succeeded and in flight never exceed what the order captured (enforced by a database constraint under concurrency). A RefundWorkflow refunds at the PSP: REFUND_REQUESTED -> REFUNDED | REFUND_FAILED.',
        parameters: [
          { name: 'paymentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
          { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateRefundRequest' } } } },
        responses: {
          '202': {
            description: 'Recorded; the refund runs at the PSP.',
            headers: { Location: { schema: { type: 'string' }, description: '/api/v1/refunds/{refundId}' }, 'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] } }, ...rateLimitHeaders },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Refund' } } },
          },
          '400': problemResponse('Invalid body (every violated rule listed) or a currency other than the order\'s.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token lacks refunds:write.'),
          '404': problemResponse('No payment has this id, or it has no order with this paymentOrderId.'),
          '409': problemResponse('The order is not CAPTURED, or the same key is in flight, or (capture-not-found) the order was captured before capture ids were stored and the PSP holds no capture for it.'),
          '422': {
            description: 'The amount exceeds what can still be refunded (problem type ending refund-exceeds-captured, with refundableAmount), or the key was used for another request.',
            content: { 'application/problem+json': { schema: { allOf: [problem, { type: 'object', properties: { refundableAmount: { $ref: '#/components/schemas/Money' } } }] } } },
          },
          '429': tooManyRequests,
          '503': problemResponse('psp-unavailable: the order was captured before capture ids were stored and the PSP did not answer when asked for it; nothing was recorded, try again.'),
        },
      },
    },
    '/api/v1/refunds/{refundId}': {
      get: {
        operationId: 'getRefund',
        summary: 'A refund and its status',
        description: 'Readable with payments:read, payments:write or refunds:write; a seller token reads the refunds of its own orders only (another seller\'s is 404, as an unknown id).',
        parameters: [{ name: 'refundId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          '200': { description: 'The refund.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/Refund' } } } },
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('Neither a seller token nor a read scope.'),
          '404': problemResponse('No refund has this id (for this reader).'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/sellers/{sellerId}/balance': {
      get: {
        operationId: 'getSellerBalance',
        summary: "A seller's balances (what the platform owes it), per currency",
        description: 'Requires scope balances:read, or a seller token whose seller_id claim equals sellerId. Reads are snapshot + recent delta.',
        parameters: [{ name: 'sellerId', in: 'path', required: true, schema: { $ref: '#/components/schemas/Id' } }],
        responses: {
          '200': { description: 'The balances; an empty list for a seller without entries.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/SellerBalance' } } } },
          '400': problemResponse('The seller id is not 1-64 printable characters.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse("Another seller's balance without balances:read."),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/sellers/me/balance': {
      get: {
        operationId: 'getMyBalance',
        summary: "The calling seller's balances (seller token with a seller_id claim)",
        responses: {
          '200': { description: 'The balances.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/SellerBalance' } } } },
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token has no seller_id claim.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/sellers/{sellerId}/payouts': {
      get: {
        operationId: 'listSellerPayouts',
        summary: "A seller's payouts, newest first (at most 100)",
        description: 'Requires scope payouts:read, or a seller token whose seller_id claim equals sellerId.',
        parameters: [{ name: 'sellerId', in: 'path', required: true, schema: { $ref: '#/components/schemas/Id' } }],
        responses: {
          '200': { description: 'The payouts.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/PayoutList' } } } },
          '400': problemResponse('The seller id is not 1-64 printable characters.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse("Another seller's payouts without payouts:read."),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/sellers/me/payouts': {
      get: {
        operationId: 'listMyPayouts',
        summary: "The calling seller's payouts (seller token with a seller_id claim)",
        responses: {
          '200': { description: 'The payouts.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/PayoutList' } } } },
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token has no seller_id claim.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/payouts/{payoutId}': {
      get: {
        operationId: 'getPayout',
        summary: 'A payout and its status',
        description: "Readable with payouts:read; a seller token reads its own payouts only (another seller's is 404, as an unknown id).",
        parameters: [{ name: 'payoutId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
        responses: {
          '200': { description: 'The payout.', headers: rateLimitHeaders, content: { 'application/json': { schema: { $ref: '#/components/schemas/Payout' } } } },
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('Neither a seller token nor payouts:read.'),
          '404': problemResponse('No payout has this id (for this reader).'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/ops/reconciliation/mismatches': {
      get: {
        operationId: 'listReconciliationMismatches',
        summary: 'Differences between the PSP settlement reports and our records (operators, scope ops:read)',
        parameters: [
          { name: 'date', in: 'query', required: false, schema: { type: 'string', format: 'date' }, description: 'The report day (YYYY-MM-DD); without it every open mismatch.' },
          { name: 'includeResolved', in: 'query', required: false, schema: { type: 'string', enum: ['true', 'false'] } },
        ],
        responses: {
          '200': { description: 'The mismatches (at most 1000).', headers: rateLimitHeaders, content: { 'application/json': { schema: { type: 'object', required: ['mismatches'], properties: { date: { type: ['string', 'null'] }, mismatches: { type: 'array', items: { type: 'object', required: ['id', 'kind', 'subjectId'], properties: { id: { type: 'string' }, kind: { type: 'string', enum: [...MISMATCH_KINDS] }, subjectId: { type: 'string' }, reportDate: { type: ['string', 'null'] }, sellerId: { type: ['string', 'null'] }, details: { type: 'object' }, detectedAt: { type: 'string', format: 'date-time' }, resolvedAt: { type: ['string', 'null'], format: 'date-time' }, resolution: { type: ['string', 'null'] } } } } } } } } },
          '400': problemResponse('date is not YYYY-MM-DD.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token lacks ops:read.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/ops/ledger/adjustments': {
      post: {
        operationId: 'createLedgerAdjustment',
        summary: 'An explicit, audited ADJUSTMENT entry (operators, scope ops:write); resolves the settled-unknown mismatch it names',
        description: 'Requires ops:write and an Idempotency-Key (same semantics as checkout: a retry with the same key and body replays the first answer with Idempotent-Replayed: true and books nothing more). A mismatch is resolved by one adjustment only.',
        parameters: [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', additionalProperties: false, required: ['streamId', 'debitAccount', 'creditAccount', 'amount', 'reason'], properties: { streamId: { $ref: '#/components/schemas/Id' }, debitAccount: { type: 'string' }, creditAccount: { type: 'string' }, amount: { $ref: '#/components/schemas/Money' }, reason: { type: 'string', minLength: 3, maxLength: 500 }, mismatchId: { type: 'string' } } } } },
        },
        responses: {
          '201': { description: 'Recorded; the entry ADJUSTMENT:{adjustmentId} is journaled by the stream moments later.', content: { 'application/json': { schema: { type: 'object', required: ['adjustmentId', 'journalEntryId', 'actor'], properties: { adjustmentId: { type: 'string', format: 'uuid' }, journalEntryId: { type: 'string' }, actor: { type: 'string' } } } } } },
          '400': problemResponse('Invalid body (a reason is required; the accounts must differ), or a missing or malformed Idempotency-Key.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token lacks ops:write.'),
          '404': problemResponse('mismatchId names no reconciliation mismatch; nothing was booked.'),
          '409': problemResponse('The mismatch is already resolved (mismatch-resolved), or the same key is in flight; nothing was booked.'),
          '415': problemResponse('Not JSON.'),
          '422': problemResponse('mismatchId names a mismatch of one of our captures or refunds (amount, fee: accept it; captured-not-settled: resolves when the PSP settles) - only settled-unknown is resolved by an adjustment (mismatch-needs-accept); or the Idempotency-Key was already used with a different request.'),
          '429': tooManyRequests,
        },
      },
    },
    '/api/v1/ops/reconciliation/mismatches/{mismatchId}/accept': {
      post: {
        operationId: 'acceptReconciliationMismatch',
        summary: 'Accept what the PSP settled for an amount or fee mismatch (operators, scope ops:write): the item settles at the PSP figures',
        description:
          'Posts the item\'s SETTLEMENT entry at the PSP\'s gross and fee, marks the capture or refund settled (the seller\'s share, net of its refunds, becomes available) and resolves the mismatch with the actor and the reason. A difference between our gross and the PSP\'s stays in PSP_RECEIVABLES for an ADJUSTMENT. Requires an Idempotency-Key (a retry with the same key and body replays the first answer).',
        parameters: [
          { name: 'mismatchId', in: 'path', required: true, schema: { type: 'string', pattern: '^[1-9][0-9]{0,18}$' } },
          { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 3, maxLength: 500 } } } } } },
        responses: {
          '200': {
            description: 'Accepted; the entry SETTLEMENT:{itemId} is journaled by the seller\'s stream moments later.',
            content: { 'application/json': { schema: { type: 'object', required: ['mismatchId', 'itemId', 'sellerId', 'journalEntryId', 'actor'], properties: { mismatchId: { type: 'string' }, itemId: { type: 'string' }, sellerId: { type: 'string' }, journalEntryId: { type: 'string' }, resolution: { type: 'string', enum: ['ACCEPTED'] }, reason: { type: 'string' }, actor: { type: 'string' } } } } },
          },
          '400': problemResponse('Invalid body (a reason is required), or a missing or malformed Idempotency-Key.'),
          '401': problemResponse('Missing or invalid bearer token.'),
          '403': problemResponse('The token lacks ops:write.'),
          '404': problemResponse('No reconciliation mismatch has this id; nothing was booked.'),
          '409': problemResponse('The mismatch is already resolved (mismatch-resolved), or the same key is in flight; nothing was booked.'),
          '415': problemResponse('Not JSON.'),
          '422': problemResponse('The mismatch names nothing of ours to settle (settled-unknown, captured-not-settled), another currency, or an already settled capture (mismatch-not-acceptable); or the Idempotency-Key was already used with a different request.'),
          '429': tooManyRequests,
        },
      },
    },
    ...webhookPaths,
    '/healthz': { get: { operationId: 'health', security: [], summary: 'Liveness', responses: { '200': { description: 'The process is alive.' } } } },
    '/readyz': {
      get: {
        operationId: 'ready',
        security: [],
        summary: 'Readiness: Postgres and the PSP answer (all a checkout needs; Temporal, Kafka and Redis outages degrade, they do not stop checkouts)',
        responses: { '200': { description: 'Ready.' }, '503': { description: 'Not ready; the body names the failing dependencies.' } },
      },
    },
    '/metrics': { get: { operationId: 'metrics', security: [], summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format.' } } } },
    '/openapi.json': { get: { operationId: 'openapi', security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document.' } } } },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    headers: {
      'RateLimit-Limit': { schema: { type: 'integer', minimum: 1 }, description: 'Requests the budget allows per window.' },
      'RateLimit-Remaining': { schema: { type: 'integer', minimum: 0 }, description: 'Requests left in the current window.' },
      'RateLimit-Reset': { schema: { type: 'integer', minimum: 1 }, description: 'Seconds until the window ends and the budget is full again.' },
    },
    schemas: {
      ...webhookSchemas,
      Money: {
        type: 'object',
        additionalProperties: false,
        required: ['quantity', 'currency'],
        properties: {
          quantity: { type: 'integer', minimum: 1, maximum: 9007199254740991, description: 'Integer minor units (cents).' },
          currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code.' },
        },
      },
      Id: { type: 'string', minLength: 1, maxLength: 64, description: '1-64 printable characters.' },
      CreatePaymentRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['buyerId', 'orderId', 'totalAmount', 'paymentOrders'],
        description: 'All amounts share one currency; the payment orders add up to totalAmount; a seller appears at most once.',
        properties: {
          buyerId: { $ref: '#/components/schemas/Id' },
          orderId: { $ref: '#/components/schemas/Id' },
          totalAmount: { $ref: '#/components/schemas/Money' },
          paymentOrders: {
            type: 'array',
            minItems: 1,
            maxItems: 50,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['sellerId', 'amount'],
              properties: { sellerId: { $ref: '#/components/schemas/Id' }, amount: { $ref: '#/components/schemas/Money' } },
            },
          },
          paymentMethod: {
            type: 'object',
            additionalProperties: false,
            required: ['token'],
            properties: { token: { type: 'string', pattern: PAYMENT_TOKEN_PATTERN.source, description: "PSP token; defaults to tok_visa in the simulator, whose test tokens combine with '+'." } },
          },
        },
      },
      PaymentOrderStatus: { type: 'string', enum: [...PAYMENT_ORDER_STATUSES] },
      RefundStatus: { type: 'string', enum: [...REFUND_STATUSES] },
      CreateRefundRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['paymentOrderId', 'amount'],
        properties: {
          paymentOrderId: { type: 'string', format: 'uuid' },
          amount: { $ref: '#/components/schemas/Money' },
          reason: { type: 'string', minLength: 1, maxLength: 500 },
        },
      },
      Refund: {
        type: 'object',
        required: ['refundId', 'paymentId', 'paymentOrderId', 'sellerId', 'amount', 'status', 'attempts', 'lastPspError', 'pspRefundId', 'createdAt', 'updatedAt'],
        properties: {
          refundId: { type: 'string', format: 'uuid' },
          paymentId: { type: 'string', format: 'uuid' },
          paymentOrderId: { type: 'string', format: 'uuid' },
          sellerId: { type: 'string' },
          amount: { $ref: '#/components/schemas/Money' },
          status: { $ref: '#/components/schemas/RefundStatus' },
          reason: { type: 'string' },
          attempts: { type: 'integer', minimum: 0 },
          lastPspError: { type: ['string', 'null'] },
          pspRefundId: { type: ['string', 'null'] },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      PaymentStatus: { type: 'string', enum: [...PAYMENT_STATUSES] },
      PaymentAccepted: {
        type: 'object',
        required: ['paymentId', 'status', 'buyerId', 'orderId', 'totalAmount', 'paymentOrders', 'createdAt'],
        properties: {
          paymentId: { type: 'string', format: 'uuid' },
          status: { const: 'AUTHORIZED' },
          buyerId: { type: 'string' },
          orderId: { type: 'string' },
          totalAmount: { $ref: '#/components/schemas/Money' },
          paymentOrders: {
            type: 'array',
            items: {
              type: 'object',
              required: ['paymentOrderId', 'sellerId', 'amount', 'status'],
              properties: {
                paymentOrderId: { type: 'string', format: 'uuid' },
                sellerId: { type: 'string' },
                amount: { $ref: '#/components/schemas/Money' },
                status: { $ref: '#/components/schemas/PaymentOrderStatus' },
              },
            },
          },
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
      Payment: {
        type: 'object',
        required: ['paymentId', 'view', 'status', 'buyerId', 'orderId', 'totalAmount', 'paymentOrders', 'createdAt', 'updatedAt'],
        description:
          "In the seller view every payment-level figure is computed from the seller's own order: totalAmount is its share, status follows its order alone, updatedAt is its order's; nothing reveals other sellers' amounts or outcomes.",
        properties: {
          paymentId: { type: 'string', format: 'uuid' },
          view: { type: 'string', enum: READ_VIEWS, description: 'full: every order (a reader with payments:read or payments:write); seller: only the calling seller\'s order.' },
          status: { $ref: '#/components/schemas/PaymentStatus' },
          buyerId: { type: 'string' },
          orderId: { type: 'string' },
          totalAmount: { $ref: '#/components/schemas/Money' },
          declineReason: { type: 'string' },
          authorizationExpiresAt: { type: 'string', format: 'date-time', description: "When the PSP's authorization lapses; captures are retried until shortly before." },
          paymentOrders: {
            type: 'array',
            items: {
              type: 'object',
              required: ['paymentOrderId', 'sellerId', 'amount', 'status', 'captureAttempts', 'lastPspError', 'updatedAt'],
              properties: {
                paymentOrderId: { type: 'string', format: 'uuid' },
                sellerId: { type: 'string' },
                amount: { $ref: '#/components/schemas/Money' },
                status: { $ref: '#/components/schemas/PaymentOrderStatus' },
                captureAttempts: { type: 'integer', minimum: 0 },
                lastPspError: { type: ['string', 'null'] },
                pspCaptureId: { type: ['string', 'null'], description: "The PSP's id of the capture, once captured." },
                refundedAmount: { $ref: '#/components/schemas/Money', description: 'Refunds that succeeded.' },
                refundableAmount: { $ref: '#/components/schemas/Money', description: 'What can still be refunded (captured minus refunds succeeded or in flight).' },
                refunds: { type: 'array', items: { $ref: '#/components/schemas/Refund' } },
                cancelRequestedAt: { type: 'string', format: 'date-time' },
                updatedAt: { type: 'string', format: 'date-time' },
              },
            },
          },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      SellerBalance: {
        type: 'object',
        required: ['sellerId', 'balances'],
        properties: {
          sellerId: { type: 'string' },
          balances: {
            type: 'array',
            items: {
              type: 'object',
              required: ['accountCode', 'balance', 'lastAppliedEntryId', 'asOf'],
              properties: {
                accountCode: { type: 'string', examples: ['MERCHANT_PAYABLE.seller-1'] },
                balance: {
                  type: 'object',
                  required: ['quantity', 'currency'],
                  description: 'Integer minor units in the account\'s normal direction (what is owed to the seller); may be 0.',
                  properties: { quantity: { type: 'integer' }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } },
                },
                lastAppliedEntryId: { type: 'string' },
                asOf: { type: 'string', format: 'date-time' },
              },
            },
          },
          available: {
            type: 'array',
            description: 'Per currency: what a payout may take now (settled captures, net of commission, refunds and payouts in flight); debtMinor > 0 when refunds of money already paid out left the seller owing.',
            items: { type: 'object', required: ['currency', 'availableMinor', 'debtMinor'], properties: { currency: { type: 'string', pattern: '^[A-Z]{3}$' }, availableMinor: { type: 'integer', minimum: 0 }, debtMinor: { type: 'integer', minimum: 0 } } },
          },
        },
      },
      Payout: {
        type: 'object',
        required: ['payoutId', 'sellerId', 'amount', 'status', 'createdAt'],
        properties: {
          payoutId: { type: 'string', format: 'uuid' },
          sellerId: { type: 'string' },
          amount: { $ref: '#/components/schemas/Money' },
          status: { type: 'string', enum: [...PAYOUT_STATUSES] },
          createdAt: { type: 'string', format: 'date-time' },
          paidAt: { type: 'string', format: 'date-time' },
          returnedAt: { type: 'string', format: 'date-time' },
          failureCode: { type: 'string' },
        },
      },
      PayoutList: { type: 'object', required: ['sellerId', 'payouts'], properties: { sellerId: { type: 'string' }, payouts: { type: 'array', items: { $ref: '#/components/schemas/Payout' } } } },
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'instance', 'traceId'],
        properties: {
          type: { type: 'string', format: 'uri' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          traceId: { type: 'string' },
          errors: {
            type: 'array',
            items: { type: 'object', required: ['pointer', 'detail'], properties: { pointer: { type: 'string' }, detail: { type: 'string' } } },
          },
        },
      },
    },
  },
} as const;
