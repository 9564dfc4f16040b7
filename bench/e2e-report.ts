/**
 * The end-to-end benchmark's output: result.json, result.md (the tables the README quotes) and
 * chart.png (latency percentiles and throughput over time, Vega-Lite rendered to PNG by resvg).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ComponentUsage } from './proc-sampler';
import { ms, type summarize } from './stats';
import { actionsTable, type ActionsPerOrder } from './temporal-actions';

type Summary = ReturnType<typeof summarize>;

export type StepResult = {
  rate: number;
  seconds: number;
  sent: number;
  accepted: number;
  ordersOffered: number;
  errors: Record<string, number>;
  checkoutMs: Summary;
  acceptedToCapturedMs: Summary;
  captureToBalanceMs: Summary;
  completedOrdersPerS: number;
  ordersInFlightAtEnd: number;
  ordersInFlightAfterGrace?: number;
  sustained: boolean;
  notSustainedBecause?: string;
  machineCpuMeanPct: number;
  /** CPU ms per completed order by component and `total` (absent in results written before it). */
  cpuMsPerOrder?: Record<string, number>;
};

type Usage = { machineCpuMeanPct: number; components: ComponentUsage[] };

export type E2eResult = {
  runId: string;
  label: string;
  at: string;
  command: string;
  machine: { cpus: number; memGiB: number };
  options: Record<string, unknown>;
  ceiling?: {
    seconds: number;
    concurrency: number;
    /** open-loop rate of the bare workflows (0 or absent: closed loop, the ceiling) */
    rate?: number;
    keys: number;
    completed: number;
    errors: number;
    workflowsPerS: number;
    latencyMs: Summary;
    runs: Array<{ phase: string; workflowsPerS: number; completed: number; errors: number; latencyMs: Summary; cpuMsPerWorkflow?: Record<string, number> }>;
  };
  steps: StepResult[];
  maxSustainedRate: number | null;
  ourOrdersPerS: number | null;
  ratioToCeiling: number | null;
  halfMaxStep: { rate: number; checkoutP99Ms: number; captureToBalanceP99Ms: number } | null;
  usage: { ceiling: Usage | null; load: Usage };
  gate: { nothingAccepted: boolean; ledgerVerify: string; paymentsNotFinal: number; capturedTwiceAtPsp: number; dbPspDisagreements: number; refundsRefundedTwiceAtPsp: number; refunds: { requested: number; refunded: number; perSecond: number }; sellersChecked: number; balanceMismatches: number; passed: boolean };
  actions?: ActionsPerOrder | null;
  /** With --webhooks: the endpoints registered and what the receiver got. */
  webhooks?: { endpoints: number; capturedOrders: number; eventsReceived: number; duplicates: number; latencyMs: Summary } | null;
  series: Array<{ t: number; offered: number; accepted: number; errors: number; completedOrders: number; p50: number | null; p95: number | null; p99: number | null }>;
};

/** A ratio with two decimals (a dimensionless figure, not money). */
const ratioText = (value: number | null): string => (value === null ? '-' : new Intl.NumberFormat('en', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value));

const s = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : ms(value));

export function markdownReport(r: E2eResult): string {
  const lines: string[] = [];
  const o = r.options;
  lines.push(`**Run ${r.runId}${r.label ? ` (${r.label})` : ''}**, ${r.at}, ${r.machine.cpus} cores, ${r.machine.memGiB} GiB, everything on one machine. Command: \`${r.command}\``);
  lines.push('');
  if (r.webhooks) lines.push(`Webhooks on: ${r.webhooks.endpoints} endpoints (one per seller, receiver on 127.0.0.1); ${r.webhooks.eventsReceived} of ${r.webhooks.capturedOrders} payment_order.captured events received, ${r.webhooks.duplicates} duplicates; event -> arrival p50 ${s(r.webhooks.latencyMs.p50)} ms, p99 ${s(r.webhooks.latencyMs.p99)} ms.`);
  lines.push(`Sellers: ${String(o.distribution)}${o.distribution === 'hot' ? ' (one seller gets every order)' : ` over ${String(o.sellers)}`}${o.distribution === 'zipf' ? ` (s = ${String(o.zipfS)})` : ''}; ${String(o.ordersPerCheckout)} orders per checkout; PSP scenario ${String(o.psp)}.`);
  lines.push('');
  lines.push('| figure | value | target |');
  lines.push('|---|---:|---|');
  if (r.ceiling && r.ceiling.rate) lines.push(`| bare-Temporal workflows, open loop at ${r.ceiling.rate}/s (not a ceiling) | ${r.ceiling.workflowsPerS} workflows/s | |`);
  else if (r.ceiling) lines.push(`| bare-Temporal ceiling (same shape, same server; mean of ${r.ceiling.runs.map((c) => `${c.phase} ${c.workflowsPerS}`).join(', ')}) | ${r.ceiling.workflowsPerS} workflows/s | |`);
  for (const run of r.ceiling?.runs ?? []) {
    const bare = run.cpuMsPerWorkflow;
    if (bare) lines.push(`| CPU ms per bare workflow (${run.phase}): Temporal / its worker / total | ${bare.temporal} / ${bare['ceiling-worker']} / ${bare.total} | |`);
  }
  lines.push(`| our completed PaymentOrders/s (best sustained step) | ${s(r.ourOrdersPerS)} | |`);
  lines.push(`| **ratio to the ceiling** | **${ratioText(r.ratioToCeiling)}** | ≥ 0.7 |`);
  lines.push(`| max sustained checkout rate | ${r.maxSustainedRate ?? 'none'} checkouts/s | |`);
  if (r.halfMaxStep) {
    lines.push(`| checkout p99 at ${r.halfMaxStep.rate}/s (≈ half the max) | ${s(r.halfMaxStep.checkoutP99Ms)} ms | ≤ 100 ms |`);
    lines.push(`| capture → balance API p99 at ${r.halfMaxStep.rate}/s | ${s(r.halfMaxStep.captureToBalanceP99Ms)} ms | ≤ 2,000 ms |`);
  }
  lines.push(`| correctness gate | ${r.gate.passed ? 'passed' : '**FAILED**'}${r.gate.nothingAccepted ? ' (no checkout was accepted)' : ''}: ledger verify ${r.gate.ledgerVerify}, ${r.gate.paymentsNotFinal} payments not final, ${r.gate.capturedTwiceAtPsp} captured twice, ${r.gate.dbPspDisagreements} DB/PSP disagreements, ${r.gate.refundsRefundedTwiceAtPsp} refunds doubled, ${r.gate.sellersChecked - r.gate.balanceMismatches}/${r.gate.sellersChecked} balances = captured − commission − refunds | all zero |`);
  if (r.gate.refunds.requested > 0) lines.push(`| refunds | ${r.gate.refunds.refunded}/${r.gate.refunds.requested} refunded, ${r.gate.refunds.perSecond}/s | |`);
  lines.push('');
  lines.push('| checkouts/s | sent | 202 | errors | checkout p50 / p95 / p99 ms | 202 → CAPTURED p50 / p99 ms | capture → balance p50 / p99 ms (probes) | completed orders/s | orders in flight at end / after grace | machine CPU | sustained |');
  lines.push('|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|');
  for (const st of r.steps) {
    const errors = Object.entries(st.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
    lines.push(
      `| ${st.rate} | ${st.sent} | ${st.accepted} | ${errors} | ${s(st.checkoutMs.p50)} / ${s(st.checkoutMs.p95)} / ${s(st.checkoutMs.p99)} | ${s(st.acceptedToCapturedMs.p50)} / ${s(st.acceptedToCapturedMs.p99)} | ${s(st.captureToBalanceMs.p50)} / ${s(st.captureToBalanceMs.p99)} (n=${st.captureToBalanceMs.count}) | ${st.completedOrdersPerS} | ${st.ordersInFlightAtEnd} / ${st.ordersInFlightAfterGrace ?? '-'} | ${st.machineCpuMeanPct}% | ${st.sustained ? 'yes' : `no: ${st.notSustainedBecause ?? ''}`} |`,
    );
  }
  lines.push('');
  const names = [...new Set([...(r.usage.ceiling?.components ?? []), ...r.usage.load.components].map((c) => c.component))].sort();
  lines.push('| component | CPU mean / max % of a core (ceiling phase, before) | CPU mean / max % (checkout phase) | RSS max MiB |');
  lines.push('|---|---:|---:|---:|');
  for (const name of names) {
    const c = r.usage.ceiling?.components.find((x) => x.component === name);
    const l = r.usage.load.components.find((x) => x.component === name);
    lines.push(`| ${name} | ${c ? `${c.cpuMeanPct} / ${c.cpuMaxPct}` : '-'} | ${l ? `${l.cpuMeanPct} / ${l.cpuMaxPct}` : '-'} | ${Math.max(c?.rssMaxMiB ?? 0, l?.rssMaxMiB ?? 0)} |`);
  }
  lines.push(`| whole machine (2 cores = 100%) | ${r.usage.ceiling ? r.usage.ceiling.machineCpuMeanPct : '-'} | ${r.usage.load.machineCpuMeanPct} | |`);
  const perOrder = r.steps.filter((st) => st.cpuMsPerOrder && st.cpuMsPerOrder.total !== undefined);
  if (perOrder.length > 0) {
    const comps = [...new Set(perOrder.flatMap((st) => Object.keys(st.cpuMsPerOrder!)))].filter((c) => c !== 'total').sort();
    lines.push('');
    lines.push(`| CPU ms per completed order | ${comps.map((c) => (c === 'bench' ? 'bench (load generator, not in total)' : c)).join(' | ')} | **total (the stack)** |`);
    lines.push(`|---:|${comps.map(() => '---:').join('|')}|---:|`);
    for (const st of perOrder) lines.push(`| ${st.rate}/s | ${comps.map((c) => st.cpuMsPerOrder![c] ?? '-').join(' | ')} | **${st.cpuMsPerOrder!.total}** |`);
  }
  if (r.actions) {
    lines.push('');
    lines.push(actionsTable(r.actions));
  }
  return lines.join('\n');
}

async function chartPng(r: E2eResult): Promise<Buffer> {
  const vega = await import('vega');
  // vega and vega-lite are ES modules; this file is CommonJS. vega-lite's types resolve only under
  // the "exports" map, which this project's module resolution does not read: its one call is typed here.
  const vegaLite: string = 'vega-lite';
  const vl = (await import(vegaLite)) as { compile: (spec: unknown) => { spec: Parameters<typeof vega.parse>[0] } };
  const { Resvg } = await import('@resvg/resvg-js');
  const latency = r.series.flatMap((p) => (['p50', 'p95', 'p99'] as const).filter((k) => p[k] !== null).map((k) => ({ t: p.t, percentile: k, ms: Math.max(1, p[k]!) })));
  const throughput = r.series.flatMap((p) => [
    { t: p.t, series: 'checkouts sent/s', value: p.offered },
    { t: p.t, series: 'PaymentOrders captured/s', value: p.completedOrders },
    { t: p.t, series: 'errors/s', value: p.errors },
  ]);
  const width = 760;
  const layers: unknown[] = [{ mark: { type: 'line', interpolate: 'monotone' }, encoding: { x: { field: 't', type: 'quantitative', title: 'seconds since the checkouts started' }, y: { field: 'value', type: 'quantitative', title: 'per second' }, color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top-left', labelLimit: 320 } } } }];
  if (r.ceiling) {
    layers.push({ data: { values: [{ y: r.ceiling.workflowsPerS, label: `bare-Temporal ceiling ${r.ceiling.workflowsPerS} workflows/s` }] }, layer: [{ mark: { type: 'rule', strokeDash: [6, 4], color: '#888' }, encoding: { y: { field: 'y', type: 'quantitative' } } }, { mark: { type: 'text', align: 'right', dy: -6, x: width, color: '#555' }, encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } } }] });
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `End-to-end checkout benchmark ${r.runId}${r.label ? ` (${r.label})` : ''}`, subtitle: `${String(r.options.distribution)} sellers, PSP ${String(r.options.psp)}, ratio to ceiling ${ratioText(r.ratioToCeiling)}, gate ${r.gate.passed ? 'passed' : 'FAILED'}` },
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    resolve: { scale: { color: 'independent' } },
    vconcat: [
      { width, height: 220, title: 'checkout latency (ms, log scale), by second sent', data: { values: latency }, mark: { type: 'line', interpolate: 'monotone' }, encoding: { x: { field: 't', type: 'quantitative', title: null }, y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' }, color: { field: 'percentile', type: 'nominal', title: null, legend: { orient: 'top-left', labelLimit: 320 } } } },
      { width, height: 220, title: 'throughput', data: { values: throughput }, layer: layers },
    ],
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'zoom', value: 1.5 } }).render().asPng();
}

/** Writes result.json, result.md and chart.png into `dir`; returns the Markdown. */
export async function writeReport(dir: string, r: E2eResult): Promise<string> {
  const markdown = markdownReport(r);
  writeFileSync(path.join(dir, 'result.json'), JSON.stringify(r, null, 2));
  writeFileSync(path.join(dir, 'result.md'), `${markdown}\n\n![chart](chart.png)\n`);
  writeFileSync(path.join(dir, 'chart.png'), await chartPng(r));
  return markdown;
}

/** Re-renders result.md and chart.png of a results folder from its result.json. */
async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx bench/e2e-report.ts bench/results/e2e-<time>');
    process.exit(2);
  }
  const result = JSON.parse(readFileSync(path.join(dir, 'result.json'), 'utf8')) as E2eResult;
  console.log(await writeReport(dir, result));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`e2e-report: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
