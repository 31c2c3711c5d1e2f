// Sample every watched namespace's counters once per tick and turn them into
// rates (RateTracker). Used by `counters`, `run` (each window) and `doctor`.
import { AnchorPool } from '../netns/pool.js';
import type { Tools } from '../exec/tools.js';
import { RateTracker, type Baseline, type CounterRow, type RateOptions } from './rates.js';
import { physicalInterfaces, readNamespaceCounters, readSoftnet, readNeighStats, type NetnsCounters } from './read.js';
import { selfNetnsInode } from '../netns/namespaces.js';

export interface WatchOptions {
  tools: Tools;
  procRoot?: string;
  runNetns?: string;
  /** Only these namespace inodes; all when empty. */
  only?: ReadonlySet<number>;
  maxNamespaces?: number;
  /** Rescan for new/gone namespaces at most this often. */
  rescanMs?: number;
  rates?: RateOptions;
  baselines?: ReadonlyMap<string, Baseline>;
  /** Read NIC driver counters (ethtool -S) of physical interfaces. */
  ethtool?: boolean;
  /** Also the host-wide counters (softnet, neighbour tables); default true. */
  hostWide?: boolean;
  now?: () => number;
}

export interface Tick {
  at: number;
  snapshots: NetnsCounters[];
  /** Rates since the previous tick (none on the first). */
  rows: CounterRow[];
  /** CPU with the most backlog drops (host-wide softnet_stat), if any. */
  softnetWorstCpu?: { cpu: number; dropped: number };
}

export class CounterWatch {
  readonly pool: AnchorPool;
  readonly tracker: RateTracker;
  private lastScan = -Infinity;
  private physical = new Map<number, { at: number; ifaces: string[] }>();
  private readonly now: () => number;
  private readonly selfInode: number | undefined;

  constructor(private readonly o: WatchOptions) {
    this.pool = new AnchorPool({ tools: o.tools, procRoot: o.procRoot, runNetns: o.runNetns, only: o.only, max: o.maxNamespaces });
    this.tracker = new RateTracker(o.rates, o.baselines);
    this.now = o.now ?? Date.now;
    this.selfInode = selfNetnsInode(o.procRoot);
  }

  async tick(): Promise<Tick> {
    if (this.now() - this.lastScan >= (this.o.rescanMs ?? 5000)) {
      const before = new Set(this.pool.list().map((a) => a.netns.inode));
      await this.pool.sync();
      this.lastScan = this.now();
      const after = new Set(this.pool.list().map((a) => a.netns.inode));
      for (const ino of before) if (!after.has(ino)) {
        this.tracker.forgetNamespace({ inode: ino });
        this.physical.delete(ino);
      }
    }
    const anchors = this.pool.list();
    const snapshots = await Promise.all(anchors.map(async (a) => {
      let ethtoolIfaces: string[] | undefined;
      if (this.o.ethtool && this.o.tools.has('ethtool')) {
        const p = this.physical.get(a.netns.inode);
        if (!p || this.now() - p.at > 60_000) this.physical.set(a.netns.inode, { at: this.now(), ifaces: await physicalInterfaces(a, this.o.tools) });
        ethtoolIfaces = this.physical.get(a.netns.inode)!.ifaces;
      }
      return readNamespaceCounters(a, { tools: this.o.tools, ethtoolIfaces, now: this.now });
    }));
    const at = this.now();
    const rows: CounterRow[] = [];
    for (const s of snapshots) if (!s.unreadable) rows.push(...this.tracker.update({ inode: s.inode, name: s.name }, s.samples, s.at));
    // softnet_stat and the neighbour tables are host-wide: read once, under
    // our own namespace, whatever namespaces are watched (their findings quote them).
    let softnetWorstCpu: Tick['softnetWorstCpu'];
    if (this.selfInode !== undefined && this.o.hostWide !== false) {
      const self = anchors.find((a) => a.netns.self);
      const ns = self ? { inode: self.netns.inode, name: self.netns.name } : { inode: this.selfInode };
      const sn = readSoftnet(this.o.procRoot);
      const host = [...(sn?.samples ?? []), ...readNeighStats(this.o.procRoot)];
      rows.push(...this.tracker.update(ns, host, at));
      const snap = snapshots.find((s) => s.inode === ns.inode);
      if (snap) snap.samples.push(...host);
      softnetWorstCpu = sn?.worstCpu;
    }
    return { at, snapshots, rows, softnetWorstCpu };
  }

  close(): void {
    this.pool.close();
  }
}
