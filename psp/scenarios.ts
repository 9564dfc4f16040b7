/** The PSP simulator's scenarios, defined once (configuration, simulator, benchmarks). */
export const PSP_SCENARIOS = ['NORMAL', 'PEAK', 'DEGRADED', 'BEST_PSP_EVER', 'CAPTURE_OUTAGE'] as const;
export type PspScenario = (typeof PSP_SCENARIOS)[number];
