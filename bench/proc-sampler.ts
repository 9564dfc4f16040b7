/**
 * CPU and memory of the stack's processes, sampled from /proc once a second: each component is
 * its recorded pid plus every descendant (Postgres backends, the JVM's threads are one process).
 * CPU is in percent of one core; RSS in MiB (summed over a process tree, so shared pages of
 * Postgres backends count more than once).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux x86-64
const PAGE_BYTES = 4_096;

type ProcStat = { ppid: number; ticks: number; rssBytes: number };

function readProcs(): Map<number, ProcStat> {
  const procs = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
      procs.set(Number(name), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE_BYTES });
    } catch {
      // the process ended while we read
    }
  }
  return procs;
}

function childrenOf(procs: Map<number, ProcStat>): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  return children;
}

function treeTotals(procs: Map<number, ProcStat>, children: Map<number, number[]>, root: number): { ticks: number; rssBytes: number } | undefined {
  if (!procs.has(root)) return undefined;
  let ticks = 0;
  let rssBytes = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const p = procs.get(pid)!;
    ticks += p.ticks;
    rssBytes += p.rssBytes;
    stack.push(...(children.get(pid) ?? []));
  }
  return { ticks, rssBytes };
}

function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export type CpuSample = { at: number; machineCpuPct: number; components: Record<string, { cpuPct: number; rssMiB: number }> };

export type ComponentUsage = { component: string; cpuMeanPct: number; cpuMaxPct: number; rssMaxMiB: number };

export class ProcSampler {
  readonly samples: CpuSample[] = [];
  private timer?: NodeJS.Timeout;
  private last?: { at: number; machine: { busy: number; total: number }; ticks: Map<string, number> };

  /** `pids` is read on every sample, so components may come and go (a restarted worker). */
  constructor(private readonly pids: () => Record<string, number>) {}

  start(intervalMs = 1_000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private sample(): void {
    const at = Date.now();
    const procs = readProcs();
    const children = childrenOf(procs); // once a sample, shared by every component's tree
    const machine = machineTicks();
    const ticks = new Map<string, number>();
    const components: CpuSample['components'] = {};
    for (const [component, pid] of Object.entries(this.pids())) {
      const totals = treeTotals(procs, children, pid);
      if (!totals) continue;
      ticks.set(component, totals.ticks);
      const before = this.last?.ticks.get(component);
      const elapsedS = this.last ? (at - this.last.at) / 1_000 : 0;
      components[component] = {
        cpuPct: before !== undefined && elapsedS > 0 ? Math.max(0, ((totals.ticks - before) / CLOCK_TICKS_PER_S / elapsedS) * 100) : Number.NaN,
        rssMiB: totals.rssBytes / 1_048_576,
      };
    }
    if (this.last) {
      const machineCpuPct = ((machine.busy - this.last.machine.busy) / Math.max(1, machine.total - this.last.machine.total)) * 100;
      this.samples.push({ at, machineCpuPct, components });
    }
    this.last = { at, machine, ticks };
  }

  /** Mean and peak CPU and peak RSS of each component between two instants. */
  usage(fromMs: number, toMs: number): { machineCpuMeanPct: number; components: ComponentUsage[] } {
    const window = this.samples.filter((s) => s.at > fromMs && s.at <= toMs);
    const names = [...new Set(window.flatMap((s) => Object.keys(s.components)))].sort();
    const round = (n: number) => Math.round(n * 10) / 10;
    const components = names.map((component) => {
      const cpu = window.map((s) => s.components[component]?.cpuPct).filter((v): v is number => v !== undefined && Number.isFinite(v));
      const rss = window.map((s) => s.components[component]?.rssMiB ?? 0);
      return { component, cpuMeanPct: round(cpu.reduce((a, b) => a + b, 0) / Math.max(1, cpu.length)), cpuMaxPct: round(Math.max(0, ...cpu)), rssMaxMiB: Math.round(Math.max(0, ...rss)) };
    });
    const machineCpuMeanPct = round(window.reduce((a, s) => a + s.machineCpuPct, 0) / Math.max(1, window.length));
    return { machineCpuMeanPct, components };
  }
}

/** The stack's components as `scripts/stack` records them (`<data dir>/run/<component>.pid`), plus `extra`. */
export function stackPids(dataDir: string, extra: Record<string, number> = {}): () => Record<string, number> {
  return () => {
    const pids: Record<string, number> = { ...extra };
    try {
      for (const file of readdirSync(path.join(dataDir, 'run'))) {
        if (file.endsWith('.pid')) pids[file.slice(0, -4)] = Number(readFileSync(path.join(dataDir, 'run', file), 'utf8').trim());
      }
    } catch {
      // no stack recorded here
    }
    return pids;
  };
}
