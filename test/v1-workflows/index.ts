/** A workflow bundle of the previous release's seller ledger (upgrade test only). */
export { sellerLedgerWorkflow } from './seller-ledger.v1.workflow';
