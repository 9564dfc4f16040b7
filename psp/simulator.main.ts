/** Entry point of the PSP simulator service (started by scripts/stack). */
import { loadConfigOrExit } from '../config/config';
import { createLogger } from '../observability/logger';
import { createSimulator } from './simulator';

const config = loadConfigOrExit();
const log = createLogger({ name: 'psp-simulator', level: config.LOG_LEVEL });
const simulator = createSimulator({
  scenario: config.PSP_SCENARIO,
  timeoutHoldMs: config.PSP_TIMEOUT_HOLD_MS,
  authTtlS: config.PSP_AUTH_TTL_S,
  stateFile: config.PSP_STATE_FILE,
  moneyOut: {
    settlementLagS: config.PSP_SETTLEMENT_LAG_S,
    feeBps: config.PSP_SETTLEMENT_FEE_BPS,
    feeFixedMinor: BigInt(config.PSP_SETTLEMENT_FEE_FIXED_MINOR),
    payoutReturnDelayS: config.PSP_PAYOUT_RETURN_DELAY_S,
  },
});
const server = simulator.app.listen(config.PSP_PORT, config.BIND_HOST, () => {
  log.info({ port: config.PSP_PORT, scenario: config.PSP_SCENARIO }, 'PSP simulator listening');
});
server.on('error', (err) => {
  log.fatal({ err }, 'PSP simulator could not listen');
  process.exit(1);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
