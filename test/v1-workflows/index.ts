/** A workflow bundle of the previous release's workflows (upgrade test and history recording only). */
export { paymentOrderWorkflow } from './payment-order.v1.workflow';
export { sellerLedgerWorkflow } from './seller-ledger.v1.workflow';
