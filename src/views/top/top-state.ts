// What `droptrace top` shows, built only from flow records (droptrace.flows):
// cumulative counts per flow (source → destination of the lost packets, per
// direction), per reason and per location, plus the last window's rate.
// Bounded: beyond maxRows entries per table the smallest are evicted.
import type { EcsRecord } from '../../record/ecs.js';
import { DistinctCounter } from './distinct.js';
import { ipToBig } from '../../decode/address.js';
import { ACTIONS, COLUMNS, type ColumnKey } from '../actions.js';

/** The column a record counts in (views/actions.ts). */
export type Category = ColumnKey;

export type Counts = Record<ColumnKey, number> & {
  total: number;
  /** Occurrences in the latest window (per second when the window is 1 s). */
  last: number;
};

export type Row = Counts & {
  key: string;
  label: string;
  direction: string;
  /** Most frequent reason/type seen for this row. */
  topReason: string;
  reasons: Map<string, number>;
  /** Distinct flows behind a roll-up row (services, sources, prefixes). */
  flows?: DistinctCounter;
};

export type View = 'flows' | 'reasons' | 'locations' | 'services' | 'sources' | 'prefixes';
/** Views that roll many flows up into one row (floods from many ports/addresses). */
export const ROLLUP_VIEWS: ReadonlySet<View> = new Set(['services', 'sources', 'prefixes']);
export type SortKey = 'total' | 'last' | ColumnKey;
export const SORT_KEYS: SortKey[] = ['total', 'last', ...COLUMNS.map((c) => c.key)];

export function categoryOf(action: string): Category | undefined {
  return ACTIONS[action]?.column;
}

const zeroCounts = () => Object.fromEntries(COLUMNS.map((c) => [c.key, 0])) as Record<ColumnKey, number>;

function endpoint(ip: unknown, port: unknown): string {
  if (typeof ip !== 'string') return '*';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

/** The /24 (IPv4) or /64 (IPv6) a source address is in. */
export function prefixOf(ip: unknown): string {
  if (typeof ip !== 'string') return '(unknown source)';
  const b = ipToBig(ip);
  if (!b) return ip;
  if (b.bits === 32) return `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  const g = (b.v >> 64n).toString(16).padStart(16, '0').match(/.{4}/g)!.map((x) => x.replace(/^0+(?=.)/, ''));
  return `${g.join(':')}::/64`;
}

export class TopState {
  readonly tables: Record<View, Map<string, Row>> = { flows: new Map(), reasons: new Map(), locations: new Map(), services: new Map(), sources: new Map(), prefixes: new Map() };
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
    // Roll-ups: a destination service (proto, address, port) per reason, and
    // the sources, each with the number of distinct flows behind it.
    const flowKey = `${proto}|${endpoint(r.source?.ip, r.source?.port)}|${endpoint(r.destination?.ip, r.destination?.port)}|${dir}`;
    const svc = dt.overflow && r.destination?.ip === undefined ? `(other flows: ${r.event.action})` : `${proto} * → ${endpoint(r.destination?.ip, r.destination?.port)}`;
    this.bump('services', `${svc}|${dir}|${reason}`, svc, dir, cat, reason, count, flowKey);
    const src = typeof r.source?.ip === 'string' ? r.source.ip : '(unknown source)';
    this.bump('sources', `${src}|${dir}`, `${src} → *`, dir, cat, reason, count, flowKey);
    const pfx = prefixOf(r.source?.ip);
    this.bump('prefixes', `${pfx}|${dir}`, `${pfx} → *`, dir, cat, reason, count, flowKey);
    const loc = dt.drop?.location;
    if (loc) {
      const label = loc.symbol ? `${loc.symbol}+0x${Number(loc.offset ?? 0).toString(16)}${loc.module ? ` [${loc.module}]` : ''}` : String(loc.address ?? '?');
      this.bump('locations', label, label, dir, cat, reason, count);
    }
  }

  private bump(view: View, key: string, label: string, direction: string, cat: Category, reason: string, n: number, flowKey?: string): void {
    const t = this.tables[view];
    let row = t.get(key);
    if (!row) {
      if (t.size >= this.maxRows) this.evictSmallest(t);
      row = { key, label, direction, ...zeroCounts(), total: 0, last: 0, topReason: reason, reasons: new Map(), ...(flowKey !== undefined ? { flows: new DistinctCounter() } : {}) };
      t.set(key, row);
    }
    if (flowKey !== undefined) row.flows?.add(flowKey);
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
