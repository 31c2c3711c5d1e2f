// What `droptrace top` shows, built only from flow records (droptrace.flows):
// cumulative counts per flow (source → destination of the lost packets, per
// direction), per reason and per location, plus the last window's rate.
// Bounded: beyond maxRows entries per table the smallest are evicted.
import type { EcsRecord } from '../../record/ecs.js';

export type Category = 'drops' | 'retransmits' | 'incoming';

export interface Counts {
  drops: number;
  retransmits: number;
  incoming: number;
  total: number;
  /** Occurrences in the latest window (per second when the window is 1 s). */
  last: number;
}

export interface Row extends Counts {
  key: string;
  label: string;
  direction: string;
  /** Most frequent reason/type seen for this row. */
  topReason: string;
  reasons: Map<string, number>;
}

export type View = 'flows' | 'reasons' | 'locations';
export type SortKey = 'total' | 'last' | 'drops' | 'retransmits' | 'incoming';
export const SORT_KEYS: SortKey[] = ['total', 'last', 'drops', 'retransmits', 'incoming'];

export function categoryOf(action: string): Category | undefined {
  if (action === 'packet-dropped') return 'drops';
  if (action === 'tcp-retransmit' || action === 'tcp-loss-probe') return 'retransmits';
  if (action.startsWith('tcp-incoming-')) return 'incoming';
  return undefined;
}

function endpoint(ip: unknown, port: unknown): string {
  if (typeof ip !== 'string') return '*';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

export class TopState {
  readonly tables: Record<View, Map<string, Row>> = { flows: new Map(), reasons: new Map(), locations: new Map() };
  windows = 0;
  lastWindowEnd = '';
  lost = 0;
  /** Probe firings the kernel skipped, and events no full map could key: losses droptrace cannot avoid, shown. */
  kernelMissed = 0;
  unattributed = 0;
  suppressed = 0;
  overflow = 0;
  private windowStamp = '';

  constructor(private readonly maxRows = 5000) {}

  add(r: EcsRecord): void {
    if (r.event.dataset !== 'droptrace.flows') return;
    const dt = r.droptrace as Record<string, any>;
    if (dt.flow?.final) return;
    const cat = categoryOf(r.event.action);
    const count = Number(dt.count ?? 0);
    if (!cat || !count) return;
    const end = r.event.end ?? r['@timestamp'];
    if (end !== this.windowStamp) {
      // A new window: the "last" column restarts.
      this.windowStamp = end;
      this.lastWindowEnd = end;
      this.windows++;
      for (const t of Object.values(this.tables)) for (const row of t.values()) row.last = 0;
    }
    if (dt.overflow) this.overflow += count;
    const dir = r.network?.direction ?? 'unknown';
    const reason = r.event.reason ?? r.event.action;
    const proto = r.network?.transport ?? '';
    const flowLabel = dt.overflow ? `(other flows: ${r.event.action})` : `${proto} ${endpoint(r.source?.ip, r.source?.port)} → ${endpoint(r.destination?.ip, r.destination?.port)}`;
    this.bump('flows', `${flowLabel}|${dir}`, flowLabel, dir, cat, reason, count);
    this.bump('reasons', `${r.event.action}|${reason}`, reason, dir, cat, r.event.action, count);
    const loc = dt.drop?.location;
    if (loc) {
      const label = loc.symbol ? `${loc.symbol}+0x${Number(loc.offset ?? 0).toString(16)}${loc.module ? ` [${loc.module}]` : ''}` : String(loc.address ?? '?');
      this.bump('locations', label, label, dir, cat, reason, count);
    }
  }

  private bump(view: View, key: string, label: string, direction: string, cat: Category, reason: string, n: number): void {
    const t = this.tables[view];
    let row = t.get(key);
    if (!row) {
      if (t.size >= this.maxRows) this.evictSmallest(t);
      row = { key, label, direction, drops: 0, retransmits: 0, incoming: 0, total: 0, last: 0, topReason: reason, reasons: new Map() };
      t.set(key, row);
    }
    row[cat] += n;
    row.total += n;
    row.last += n;
    const rc = (row.reasons.get(reason) ?? 0) + n;
    row.reasons.set(reason, rc);
    if (rc > (row.reasons.get(row.topReason) ?? 0)) row.topReason = reason;
  }

  private evictSmallest(t: Map<string, Row>): void {
    let min: Row | undefined;
    for (const r of t.values()) if (!min || r.total < min.total) min = r;
    if (min) t.delete(min.key);
  }

  top(view: View, sort: SortKey, n: number): Row[] {
    return [...this.tables[view].values()].sort((a, b) => b[sort] - a[sort] || b.total - a.total || (a.key < b.key ? -1 : 1)).slice(0, n);
  }
}
