// Per window and per network namespace: what the tracer counted vs the
// kernel's own counters over (about) the same time, as droptrace.stats records.
import type { EcsRecord } from '../record/ecs.js';
import { coverage, type ReconciledSignal } from './coverage.js';
import type { CounterReader } from '../platform/procfs-counters.js';

export interface ReconcilerOptions {
  hostName: string;
  readCounters: CounterReader;
  /** netns inode → a path to enter it (from interfaces.findNetnsHandles), refreshed on miss. */
  netnsPath: (inode: number) => string | undefined;
  /** At most this many namespaces are followed (largest traffic first seen). */
  maxNamespaces?: number;
  now?: () => number;
}

type Traced = Partial<Record<ReconciledSignal, number>>;

export class Reconciler {
  private readonly last = new Map<number, Map<string, number>>();
  private readonly traced = new Map<number, Traced>();
  errors = 0;

  constructor(private readonly o: ReconcilerOptions) {}

  /**
   * Counter snapshots taken now for these namespaces (those the user named),
   * so their first window is reconciled too: a namespace first met in a flow
   * record only gets its snapshot at the end of that window, and its
   * reconciliation starts with the next one.
   */
  async baseline(namespaces: Iterable<number>): Promise<void> {
    const list = [...namespaces].slice(0, this.o.maxNamespaces ?? 64);
    await Promise.all(list.map(async (ns) => {
      const path = this.o.netnsPath(ns);
      if (!path) return;
      try {
        this.last.set(ns, await this.o.readCounters(path));
      } catch {
        this.errors++;
      }
    }));
  }

  /** Count one flow record (call for every record of the window). */
  observe(r: EcsRecord): void {
    if (r.event.dataset !== 'droptrace.flows') return;
    const dt = r.droptrace as Record<string, any>;
    const ns = dt.netns?.inode;
    const n = Number(dt.count ?? 0);
    if (typeof ns !== 'number' || !n || dt.flow?.final) return;
    if (!this.traced.has(ns)) {
      if (this.traced.size >= (this.o.maxNamespaces ?? 64)) return;
      this.traced.set(ns, {});
    }
    const t = this.traced.get(ns)!;
    const add = (k: ReconciledSignal, v: number) => (t[k] = (t[k] ?? 0) + v);
    // The retransmit counters add segments (tcp_skb_pcount), not skbs.
    const segs = Number(dt.segments ?? n);
    const type = dt.retransmit?.type;
    if (r.event.action === 'tcp-retransmit') {
      add('retransmits', segs);
      if (type === 'fast') add('fastRetransmits', segs);
      if (type === 'rto') add('timeoutRetransmits', segs);
      // type tlp here: an observed probe's retransmitted segment; the probe itself is its own tcp-loss-probe record.
    } else if (r.event.action === 'tcp-loss-probe') {
      add('lossProbes', n);
      // An inferred probe is its retransmitted segment: also in RetransSegs.
      if (dt.retransmit?.tlp_source === 'inferred') add('retransmits', segs);
    } else if (r.event.action === 'tcp-incoming-out-of-order') add('outOfOrder', n);
  }

  /** Close the window: read counters, emit one record per namespace with a previous snapshot. */
  async closeWindow(startIso: string, endIso: string): Promise<EcsRecord[]> {
    const out: EcsRecord[] = [];
    const namespaces = [...new Set([...this.traced.keys(), ...this.last.keys()])];
    await Promise.all(namespaces.map(async (ns) => {
      const path = this.o.netnsPath(ns);
      if (!path) {
        this.last.delete(ns);
        return;
      }
      let now: Map<string, number>;
      try {
        now = await this.o.readCounters(path);
      } catch {
        this.errors++;
        return;
      }
      const before = this.last.get(ns);
      this.last.set(ns, now);
      if (!before) return;
      const rows = coverage(before, now, this.traced.get(ns) ?? {});
      out.push({
        '@timestamp': endIso,
        event: { kind: 'metric', category: ['network'], action: 'kernel-coverage', dataset: 'droptrace.stats', start: startIso, end: endIso },
        host: { name: this.o.hostName },
        droptrace: {
          id: `${this.o.hostName}-coverage-${ns}-${Date.parse(endIso)}`,
          netns: { inode: ns },
          coverage: Object.fromEntries(rows.map((r) => [r.signal, { counter: r.counter, relation: r.relation, kernel: r.kernel, traced: r.traced, ...(r.coverage !== null ? { ratio: r.coverage } : {}), ...(r.note ? { note: r.note } : {}) }])),
        },
      });
    }));
    this.traced.clear();
    return out;
  }
}
