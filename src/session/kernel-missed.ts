// Probe firings the kernel skipped (BPF recursion protection), per signal:
// the running tracer's programs are named with bpftool once per bpftrace
// process and matched to the signals' kernel events (the catalog's
// programs, in program order); their recursion_misses counters are read from
// fdinfo (src/source/bpf-fdinfo.ts) and added as deltas.
import type { BpfObjects } from '../source/bpf-fdinfo.js';
import { attributePrograms } from '../source/bpf-fdinfo.js';
import type { SessionStats } from './session-stats.js';

export interface BpfInspector {
  readObjects(pid: number): BpfObjects | undefined;
  progNames(): Promise<Map<number, string>>;
}

/** One signal's programs, in the order they are in the generated program. */
export interface IncludedEvents {
  signal: string;
  events: string[];
}

export class KernelMissed {
  /** recursion_misses already counted from the current bpftrace process, per program id. */
  private seen = new Map<number, number>();
  /** Program id → signal, for the current bpftrace process. */
  private signals = new Map<number, string>();

  constructor(private readonly bpf: BpfInspector, private readonly stats: SessionStats) {}

  /** A new bpftrace process: nothing counted from it yet. */
  reset(): void {
    this.seen = new Map();
    this.signals = new Map();
  }

  /** Name the running tracer's programs by signal and read its map memory (once per bpftrace process). */
  async inspect(pid: number, included: readonly IncludedEvents[]): Promise<void> {
    const objs = this.bpf.readObjects(pid);
    if (!objs) return;
    this.stats.kernelMaps = { maps: objs.maps.length, keys: Math.max(0, ...objs.maps.map((m) => m.maxEntries)), bytes: objs.maps.reduce((s, m) => s + m.memlock, 0) };
    const names = await this.bpf.progNames();
    const events = included.flatMap((s) => s.events);
    const signalOf = included.flatMap((s) => s.events.map(() => s.signal));
    const progs = objs.progs.filter((p) => names.has(p.id)).map((p) => ({ id: p.id, name: names.get(p.id)! }));
    const bySignal = attributePrograms(progs, events);
    // Named programs that are no signal's (BEGIN, END, the window tick) are
    // 'other': a skipped tick only delays a flip. Without names: unattributed.
    this.signals = new Map(progs.map((p) => [p.id, bySignal.has(p.id) ? signalOf[bySignal.get(p.id)!] : 'other']));
  }

  /** Re-read the kernel's skip counters of `pid`; returns the total so far. */
  update(pid: number | undefined): number {
    const objs = pid ? this.bpf.readObjects(pid) : undefined;
    for (const p of objs?.progs ?? []) {
      const seen = this.seen.get(p.id) ?? 0;
      if (p.recursionMisses <= seen) continue;
      const n = p.recursionMisses - seen;
      this.seen.set(p.id, p.recursionMisses);
      this.stats.kernelMissed += n;
      const sig = this.signals.get(p.id) ?? 'unattributed';
      this.stats.kernelMissedBySignal[sig] = (this.stats.kernelMissedBySignal[sig] ?? 0) + n;
    }
    return this.stats.kernelMissed;
  }
}
