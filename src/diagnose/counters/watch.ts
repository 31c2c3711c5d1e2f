// Sample every watched namespace's counters once per tick and turn them into
// rates (RateTracker). Used by `counters`, `run` (each window) and `doctor`.
import { AnchorPool } from '../netns/pool.js';
import type { Tools } from '../exec/tools.js';
import { RateTracker, type Baseline, type CounterRow, type RateOptions } from './rates.js';
import { physicalInterfaces, readNamespaceCounters, readSoftnet, readNeighStats, type NetnsCounters } from './read.js';
import { selfNetnsInode } from '../netns/namespaces.js';
import { readText, ProcFiles } from './read.js';
import { join } from 'node:path';

/** Interface names of a namespace, from its /proc/net/dev (first column). */
function interfaceList(procNet: string | undefined): string {
  const t = procNet ? readText(join(procNet, 'dev')) : undefined;
  return (t ?? '').split('\n').slice(2).map((l) => l.split(':')[0].trim()).join(',');
}

const QDISC_RECHECK_MS = 10_000;

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
  /** Rows for every watched counter, not only those that moved or storm (counters --all). */
  allRows?: boolean;
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
  /**
   * Namespaces whose last qdisc answer had nothing to count (only noqueue,
   * as on most container veths): asked again every `QDISC_RECHECK_MS` only.
   */
  private noQdiscSince = new Map<number, number>();
  /** Physical interfaces per namespace, re-detected when its interface list changes. */
  private physical = new Map<number, { sig: string; ifaces: string[] }>();
  private readonly now: () => number;
  private readonly selfInode: number | undefined;
  private readonly files = new ProcFiles();

  constructor(private readonly o: WatchOptions) {
    this.pool = new AnchorPool({ tools: o.tools, procRoot: o.procRoot, runNetns: o.runNetns, only: o.only, max: o.maxNamespaces });
    this.tracker = new RateTracker(o.rates, o.baselines);
    this.now = o.now ?? Date.now;
    this.selfInode = selfNetnsInode(o.procRoot);
  }

  async tick(): Promise<Tick> {
    if (this.now() - this.lastScan >= (this.o.rescanMs ?? 5000)) {
      const before = new Map(this.pool.list().map((a) => [a.netns.inode, a.procNet()]));
      await this.pool.sync();
      this.lastScan = this.now();
      const after = new Set(this.pool.list().map((a) => a.netns.inode));
      for (const [ino, dir] of before) if (!after.has(ino) || this.pool.get(ino)?.procNet() !== dir) {
        // Gone, or its helper was replaced (a new pid): its kept files point at the old one.
        if (dir) this.files.closeUnder(dir + '/');
        if (after.has(ino)) continue;
        this.tracker.forgetNamespace({ inode: ino });
        this.physical.delete(ino);
        this.noQdiscSince.delete(ino);
      }
    }
    const anchors = this.pool.list();
    const snapshots = await Promise.all(anchors.map(async (a) => {
      let ethtoolIfaces: string[] | undefined;
      if (this.o.ethtool && this.o.tools.has('ethtool')) {
        // The interface list is in /proc/<pid>/net/dev (read anyway): only a
        // change in it costs an `ip -d link` (veth/bridges never need ethtool).
        const sig = interfaceList(a.procNet());
        const p = this.physical.get(a.netns.inode);
        if (!p || p.sig !== sig) this.physical.set(a.netns.inode, { sig, ifaces: await physicalInterfaces(a, this.o.tools) });
        ethtoolIfaces = this.physical.get(a.netns.inode)!.ifaces;
      }
      const quiet = this.noQdiscSince.get(a.netns.inode);
      const askQdiscs = quiet === undefined || this.now() - quiet >= QDISC_RECHECK_MS;
      const snap = await readNamespaceCounters(a, { tools: this.o.tools, ethtoolIfaces, now: this.now, qdiscs: askQdiscs, files: this.files });
      if (askQdiscs) {
        if (snap.qdiscs && snap.qdiscs.length === 0) this.noQdiscSince.set(a.netns.inode, this.now());
        else this.noQdiscSince.delete(a.netns.inode);
      }
      return snap;
    }));
    const at = this.now();
    const rows: CounterRow[] = [];
    const all = this.o.allRows === true;
    for (const s of snapshots) if (!s.unreadable) rows.push(...this.tracker.update({ inode: s.inode, name: s.name }, s.samples, s.at, all));
    // softnet_stat and the neighbour tables are host-wide: read once, under
    // our own namespace, whatever namespaces are watched (their findings quote them).
    let softnetWorstCpu: Tick['softnetWorstCpu'];
    if (this.selfInode !== undefined && this.o.hostWide !== false) {
      const self = anchors.find((a) => a.netns.self);
      const ns = self ? { inode: self.netns.inode, name: self.netns.name } : { inode: this.selfInode };
      const sn = readSoftnet(this.o.procRoot);
      const host = [...(sn?.samples ?? []), ...readNeighStats(this.o.procRoot)];
      rows.push(...this.tracker.update(ns, host, at, all));
      const snap = snapshots.find((s) => s.inode === ns.inode);
      if (snap) snap.samples.push(...host);
      softnetWorstCpu = sn?.worstCpu;
    }
    return { at, snapshots, rows, softnetWorstCpu };
  }

  close(): void {
    this.files.closeAll();
    this.pool.close();
  }
}
