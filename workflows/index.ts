/** The workflow bundle's entry point: every workflow type the worker registers. */
export { paymentOrderWorkflow } from './payment-order.workflow';
export { sellerLedgerWorkflow } from './seller-ledger.workflow';
export { ledgerVerificationWorkflow } from './ledger-verification.workflow';
export { idempotencyKeysPurgeWorkflow } from './idempotency-keys-purge.workflow';
export { refundWorkflow } from './refund.workflow';
export { settlementWorkflow } from './settlement.workflow';
export { payoutWorkflow } from './payout.workflow';
export { webhookEndpointWorkflow } from './webhook-endpoint.workflow';
