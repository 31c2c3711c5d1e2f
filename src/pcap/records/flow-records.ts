// Counts → flow records in the `droptrace.flows` shape the live tracer
// writes (src/aggregate/flow-records.ts): one record per window × flow ×
// data direction × action × loss side, with the exact count, the window
// being capture time (aligned to multiples of the interval), observer.type
// "pcap", the file and capture interface. Record ids derive from the capture
// content (the file's fingerprint: its first packet), the flow and the
// window, never from the file name: re-analysing a file gives the same ids
// (an Elasticsearch duplicate), and tcpdump -W reusing a name does not.
// Bounded: at most 4 × maxRecords counters per window; a window keeps its
// top maxRecords by count, the rest (and anything beyond the bound) is
// summed into overflow records per action, so every slice still sums exactly.
import { createHash } from 'node:crypto';
import type { EcsRecord } from '../../record/ecs.js';
import { CATEGORIES, SIDE_NAMES, type Category, type Side } from '../analysis/categories.js';
import type { Conn } from '../analysis/connection.js';
import type { CountSink } from '../analysis/tracker.js';

export interface PcapRecordOptions {
  hostName: string;
  intervalUs: number;
  maxRecords: number;
  onRecord: (r: EcsRecord) => void;
}

export interface FileContext {
  path: string;
  fingerprint: string;
}

interface Acc {
  conn: Conn;
  half: 0 | 1;
  cat: Category;
  side: Side;
  count: number;
  bytes: number;
}

const hash = (s: string) => createHash('sha1').update(s).digest('base64url').slice(0, 22);
const DIRECTION = ['unknown', 'ingress', 'egress'] as const;
const ms = (us: number) => Math.round(us / 10) / 100;

export class PcapFlowRecords implements CountSink {
  /** Current output window index (capture time / interval), -1 before the first packet. */
  window = -1;
  records = 0;
  overflowRecords = 0;
  private accs = new Map<string, Acc>();
  private overflow = new Map<string, { cat: Category; side: Side; count: number; bytes: number }>();
  private file: FileContext | null = null;

  constructor(private readonly o: PcapRecordOptions) {}

  beginFile(f: FileContext): void {
    this.file = f;
  }

  /** The window of a packet at tsUs; flushes the previous one when it moves on. A late packet counts in the current window. */
  advance(tsUs: number): number {
    const w = Math.floor(tsUs / this.o.intervalUs);
    if (w > this.window) {
      if (this.window >= 0) this.flush();
      this.window = w;
    }
    return this.window;
  }

  count(conn: Conn, half: 0 | 1, cat: Category, side: Side, bytes: number): void {
    const key = `${conn.key}${half}${cat}${side}`;
    const a = this.accs.get(key);
    if (a !== undefined) {
      a.count++;
      a.bytes += bytes;
      return;
    }
    if (this.accs.size >= this.o.maxRecords * 4) {
      this.addOverflow(cat, side, 1, bytes);
      return;
    }
    this.accs.set(key, { conn, half, cat, side, count: 1, bytes });
  }

  private addOverflow(cat: Category, side: Side, count: number, bytes: number): void {
    const k = `${cat}|${side}`;
    const o = this.overflow.get(k);
    if (o) {
      o.count += count;
      o.bytes += bytes;
    } else this.overflow.set(k, { cat, side, count, bytes });
  }

  /** Emit the current window's records (end of window or end of file). */
  flush(): void {
    if (this.window < 0 || !this.file) return;
    const startUs = this.window * this.o.intervalUs;
    const startIso = new Date(startUs / 1000).toISOString();
    const endIso = new Date((startUs + this.o.intervalUs) / 1000).toISOString();
    let rows = [...this.accs.values()];
    if (rows.length > this.o.maxRecords) {
      rows.sort((x, y) => y.count - x.count);
      for (const r of rows.slice(this.o.maxRecords)) this.addOverflow(r.cat, r.side, r.count, r.bytes);
      rows = rows.slice(0, this.o.maxRecords);
    }
    for (const a of rows) this.o.onRecord(this.flowRecord(a, startIso, endIso));
    for (const ov of this.overflow.values()) this.o.onRecord(this.overflowRecord(ov, startIso, endIso));
    this.records += rows.length;
    this.accs = new Map();
    this.overflow = new Map();
  }

  private base(cat: Category, side: Side, startIso: string, endIso: string): EcsRecord {
    const info = CATEGORIES[cat];
    return {
      '@timestamp': startIso,
      event: { kind: 'metric', category: ['network'], type: ['connection'], action: info.action as EcsRecord['event']['action'], dataset: 'droptrace.flows', reason: info.flag, start: startIso, end: endIso },
      network: { transport: 'tcp', iana_number: '6' },
      host: { name: this.o.hostName },
      droptrace: {},
    } as EcsRecord;
  }

  private windowField() {
    return { interval_s: this.o.intervalUs / 1e6, start_ns: String(BigInt(this.window) * BigInt(this.o.intervalUs) * 1000n) };
  }

  private flowRecord(a: Acc, startIso: string, endIso: string): EcsRecord {
    const f = this.file!;
    const c = a.conn;
    const h = c.half(a.half);
    const { src, dst } = c.ends(a.half);
    const rec = this.base(a.cat, a.side, startIso, endIso);
    rec.network = { type: c.l3 === 6 ? 'ipv6' : 'ipv4', transport: 'tcp', iana_number: '6', direction: DIRECTION[h.dirHint] ?? 'unknown' };
    rec.source = src;
    rec.destination = dst;
    const iface = { id: String(c.ifIndex), ...(c.ifName !== undefined ? { name: c.ifName } : {}) };
    rec.observer = { type: 'pcap', ingress: { interface: iface } };
    rec.file = { path: f.path };
    const flowId = hash(`pcap|${src.ip}|${src.port}|${dst.ip}|${dst.port}`);
    const info = CATEGORIES[a.cat];
    const tcp: Record<string, unknown> = {};
    if (h.rttN > 0) tcp.rtt_ms = { min: ms(h.rttMinUs), avg: ms(h.rttSumUs / h.rttN), max: ms(h.rttMaxUs), samples: h.rttN };
    if (c.iRttUs > 0) tcp.irtt_ms = ms(c.iRttUs);
    rec.droptrace = {
      id: `pcap-${hash(`${f.fingerprint}|${flowId}|${info.action}|${a.side}|${this.window}`)}`,
      count: a.count,
      bytes: a.bytes,
      flow: { id: flowId },
      window: this.windowField(),
      pcap: {
        interface: iface.name ?? iface.id,
        packets: h.periodIdx === this.window ? h.periodPackets : 0,
        loss_side: SIDE_NAMES[a.side],
        evidence: info.evidence,
        fingerprint: f.fingerprint,
      },
      ...(Object.keys(tcp).length ? { tcp } : {}),
    };
    return rec;
  }

  private overflowRecord(o: { cat: Category; side: Side; count: number; bytes: number }, startIso: string, endIso: string): EcsRecord {
    const f = this.file!;
    const rec = this.base(o.cat, o.side, startIso, endIso);
    rec.observer = { type: 'pcap' };
    rec.file = { path: f.path };
    const info = CATEGORIES[o.cat];
    rec.droptrace = {
      id: `pcap-${hash(`${f.fingerprint}|overflow|${info.action}|${o.side}|${this.window}`)}`,
      count: o.count,
      bytes: o.bytes,
      window: this.windowField(),
      overflow: { kernel_count: 0, collector_count: o.count },
      pcap: { loss_side: SIDE_NAMES[o.side], evidence: info.evidence, fingerprint: f.fingerprint },
    };
    this.overflowRecords++;
    return rec;
  }
}
