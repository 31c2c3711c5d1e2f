// What the doctor saw in its window, from the same flow records `run` emits
// (droptrace.flows) and the counter ticks: drops grouped per namespace ×
// reason × location × direction × path × flow, TCP loss per connection
// direction, counter deltas per namespace. Bounded: beyond `maxGroups`
// flows, drops are kept per destination service only (source left out).
import type { EcsRecord } from '../../record/ecs.js';
import type { CounterIdentity, CounterRow } from '../counters/rates.js';
import type { CounterInfo } from '../counters/catalog.js';

export interface Ep {
  ip?: string;
  port?: number;
}

export interface DropGroup {
  key: string;
  netns: number;
  reason: string;
  symbol?: string;
  /** "sym+0xoff [module]" or a raw address. */
  location?: string;
  direction: string;
  path: string;
  l3?: 'ipv4' | 'ipv6';
  transport?: string;
  src: Ep;
  dst: Ep;
  iif?: string;
  oif?: string;
  icmp?: { type: number; code: number };
  count: number;
  bytes: number;
  /** From the kernel's or the collector's overflow records (no full flow). */
  overflow: boolean;
}

export type TcpAction = 'tcp-retransmit' | 'tcp-loss-probe' | 'tcp-incoming-out-of-order' | 'tcp-incoming-retransmit' | 'tcp-incoming-duplicate';

export interface TcpGroup {
  key: string;
  netns: number;
  action: TcpAction;
  /** Retransmit type (rto, fast, tlp, syn, synack) or incoming kind. */
  type: string;
  state?: string;
  l3?: 'ipv4' | 'ipv6';
  src: Ep;
  dst: Ep;
  count: number;
  overflow: boolean;
}

export interface CounterStat extends CounterIdentity {
  delta: number;
  peakRate: number;
  baseline?: number;
  storm: boolean;
  info: CounterInfo;
}

const ep = (e: { ip?: string; port?: number } | undefined): Ep => (e ? { ip: e.ip, port: e.port } : {});
const epKey = (e: Ep) => `${e.ip ?? '*'}:${e.port ?? '*'}`;

function locationOf(loc: Record<string, any> | undefined): string | undefined {
  return loc ? (loc.symbol ? `${loc.symbol}+0x${Number(loc.offset ?? 0).toString(16)}${loc.module ? ` [${loc.module}]` : ''}` : loc.address) : undefined;
}

/** The group a drop flow record falls in, without its source (the bounded fallback) and with it. */
export function dropKeys(r: EcsRecord): { base: string; full: string } {
  const dt = r.droptrace as Record<string, any>;
  const base = `${Number(dt.netns?.inode ?? 0)}|${r.event.reason}|${locationOf(dt.drop?.location)}|${r.network?.direction}|${dt.path}|${r.network?.transport}|${epKey(ep(r.destination))}|${r.observer?.ingress?.interface?.name ?? ''}|${r.observer?.egress?.interface?.name ?? ''}`;
  return { base, full: `${base}|${epKey(ep(r.source))}` };
}

export class Observation {
  readonly drops = new Map<string, DropGroup>();
  readonly tcp = new Map<string, TcpGroup>();
  readonly counters = new Map<string, CounterStat>();
  /** Counter snapshots' conntrack table sizes, per namespace (latest). */
  readonly conntrackEntries = new Map<number, number>();
  startMs = Date.now();
  endMs = Date.now();
  lostEvents = 0;

  constructor(private readonly maxGroups = 20_000) {}

  get seconds(): number {
    return Math.max(0.001, (this.endMs - this.startMs) / 1000);
  }

  /** Fold one flow record in (others are ignored). */
  add(r: EcsRecord): void {
    if (r.event.action === 'events-lost') {
      this.lostEvents += Number((r.droptrace as Record<string, any>).lost?.count ?? 0);
      return;
    }
    if (r.event.dataset !== 'droptrace.flows') return;
    const dt = r.droptrace as Record<string, any>;
    const count = Number(dt.count ?? 0);
    if (!count || dt.flow?.final) return;
    const netns = Number(dt.netns?.inode ?? 0);
    const overflow = Boolean(dt.overflow);
    const l3 = r.network?.type;
    if (r.event.action === 'packet-dropped') {
      const loc = dt.drop?.location;
      const location = locationOf(loc);
      let src = ep(r.source);
      let dst = ep(r.destination);
      const keys = dropKeys(r);
      const base = keys.base;
      let key = keys.full;
      // Bounded: beyond maxGroups a drop keeps its destination service only,
      // beyond twice that not even the service (a port scan across 65 k ports).
      if (!this.drops.has(key) && this.drops.size >= this.maxGroups) {
        src = {};
        key = `${base}|*`;
        if (!this.drops.has(key) && this.drops.size >= 2 * this.maxGroups) {
          dst = {};
          key = `${netns}|${r.event.reason}|${location}|${r.network?.direction}|${dt.path}|*|*`;
        }
      }
      const g = this.drops.get(key);
      if (g) {
        g.count += count;
        g.bytes += Number(dt.bytes ?? 0);
        return;
      }
      this.drops.set(key, {
        key, netns, reason: r.event.reason ?? 'NOT_SPECIFIED', symbol: loc?.symbol, location,
        direction: r.network?.direction ?? 'unknown', path: dt.path ?? 'unknown', l3, transport: r.network?.transport,
        src, dst, iif: r.observer?.ingress?.interface?.name, oif: r.observer?.egress?.interface?.name,
        icmp: dt.icmp, count, bytes: Number(dt.bytes ?? 0), overflow,
      });
      return;
    }
    const action = r.event.action as TcpAction;
    if (!['tcp-retransmit', 'tcp-loss-probe', 'tcp-incoming-out-of-order', 'tcp-incoming-retransmit', 'tcp-incoming-duplicate'].includes(action)) return;
    const type = String(dt.retransmit?.type ?? r.event.reason ?? '');
    let src = ep(r.source);
    let dst = ep(r.destination);
    let key = `${netns}|${action}|${type}|${epKey(src)}|${epKey(dst)}`;
    // Bounded like drops: beyond maxGroups connections, counted per namespace and kind only.
    if (!this.tcp.has(key) && this.tcp.size >= this.maxGroups) {
      src = {};
      dst = {};
      key = `${netns}|${action}|${type}|*|*`;
    }
    const g = this.tcp.get(key);
    if (g) g.count += count;
    else this.tcp.set(key, { key, netns, action, type, state: dt.tcp?.state, l3, src, dst, count, overflow: overflow || src.ip === undefined });
  }

  /** Fold one counter tick in (rates since the previous tick). */
  addCounters(rows: CounterRow[]): void {
    for (const r of rows) {
      const key = `${r.netns}|${r.name}|${r.iface ?? ''}|${r.qdisc ?? ''}`;
      const c = this.counters.get(key);
      if (c) {
        c.delta += r.delta;
        c.peakRate = Math.max(c.peakRate, r.rate);
        c.storm ||= r.storm;
        if (c.baseline === undefined) c.baseline = r.baseline;
      } else {
        this.counters.set(key, { netns: r.netns, netnsName: r.netnsName, name: r.name, source: r.source, iface: r.iface, qdisc: r.qdisc, delta: r.delta, peakRate: r.rate, baseline: r.baseline, storm: r.storm, info: r.info });
      }
    }
  }
}
