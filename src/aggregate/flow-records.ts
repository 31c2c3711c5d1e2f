// Window dumps → flow records (event.dataset droptrace.flows): one record per
// window × flow × direction × action × reason (drops also × location) with
// the exact count and bytes. Collector memory is bounded: the top `maxFlows`
// flows of a window by count are kept, the rest summed into overflow records
// (as are the kernel's own overflow maps), so every slice still sums exactly.
// A flow not seen for `idleTimeoutMs` gets one `final` record with its totals.
import { createHash } from 'node:crypto';
import type { EcsRecord } from '../record/ecs.js';
import type { Enricher } from '../enrich/enricher.js';
import { enrichEvent } from '../enrich/enricher.js';
import type { MonotonicToWall } from '../enrich/clock.js';
import { decodeEntry, type DecodedEntry } from './keys.js';
import type { WindowDump } from './window.js';

export interface FlowAggregatorOptions {
  enricher: Enricher;
  clock: MonotonicToWall;
  hostName: string;
  intervalNs: bigint;
  phaseNs: bigint;
  /** Monotonic ns the tracer started (start of window 0). */
  startNs: bigint;
  /** Flows kept per window (and tracked for `final`); the rest go to overflow records. */
  maxFlows: number;
  idleTimeoutMs: number;
}

export interface FlowStats {
  windows: number;
  flowRecords: number;
  overflowRecords: number;
  /** Occurrences counted into overflow records (kernel map full + collector top-K). */
  overflowCount: number;
  finals: number;
  unknownEntries: number;
}

interface Tracked {
  key: string;
  first: string;
  last: string;
  lastMs: number;
  count: number;
  bytes: number;
  /** The flow's latest record, reused (shallowly) for its final record. */
  template: EcsRecord;
}

interface Row {
  d: DecodedEntry;
  key: string;
  count: number;
  bytes: number;
}

const hash = (s: string) => createHash('sha1').update(s).digest('base64url').slice(0, 22);

export class FlowAggregator {
  readonly stats: FlowStats = { windows: 0, flowRecords: 0, overflowRecords: 0, overflowCount: 0, finals: 0, unknownEntries: 0 };
  private readonly tracked = new Map<string, Tracked>();
  /** Bounds of the window most recently closed. */
  lastWindow: { startIso: string; endIso: string; final: boolean } | null = null;

  constructor(private readonly o: FlowAggregatorOptions) {}

  /** Records for one closed window (flows, overflow, then any finals now due). */
  onWindow(w: WindowDump): EcsRecord[] {
    this.stats.windows++;
    const I = this.o.intervalNs;
    const startNs = w.window > 0 ? this.o.phaseNs % I + BigInt(w.window) * I : this.o.startNs;
    const endNs = w.final ? BigInt(w.closedAtNs) : startNs + I;
    const startIso = new Date(this.o.clock.toWallMs(Number(startNs))).toISOString();
    const endIso = new Date(this.o.clock.toWallMs(Number(endNs))).toISOString();
    const ts = Number(endNs);
    this.lastWindow = { startIso, endIso, final: w.final };

    const flows: Row[] = [];
    const overflow: Row[] = [];
    for (const e of w.entries) {
      const d = decodeEntry(e, ts);
      if (!d) {
        this.stats.unknownEntries++;
        continue;
      }
      const row = { d, key: `${e.map}|${e.keys.join('.')}`, count: e.count, bytes: e.total };
      (d.overflow ? overflow : flows).push(row);
    }
    // The biggest losers first; ties broken by key so output is stable.
    if (flows.length > this.o.maxFlows) {
      flows.sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
      overflow.push(...flows.splice(this.o.maxFlows));
    }

    const out: EcsRecord[] = [];
    const window = { interval_s: Number(I / 1_000_000_000n), start_ns: String(startNs), ...(w.final ? { final: true } : {}) };
    for (const r of flows) {
      const rec = this.flowRecord(r, startIso, endIso, window, w.closedAtNs);
      out.push(rec);
      this.track(r, rec, endIso);
    }
    out.push(...this.overflowRecords(overflow, startIso, endIso, window, w.closedAtNs));
    this.stats.flowRecords += flows.length;
    out.push(...this.finalsDue(this.o.clock.toWallMs(ts)));
    return out;
  }

  /** On shutdown: a final record for every flow still tracked. */
  finish(): EcsRecord[] {
    return this.finalsDue(Infinity);
  }

  get trackedFlows(): number {
    return this.tracked.size;
  }

  private base(r: Row, startIso: string, endIso: string, window: Record<string, unknown>): EcsRecord {
    const rec = enrichEvent(this.o.enricher, r.d.event);
    rec['@timestamp'] = startIso;
    rec.event = { ...rec.event, kind: 'metric', dataset: 'droptrace.flows', start: startIso, end: endIso };
    const dt = rec.droptrace as Record<string, unknown>;
    // Per-event details that don't describe a whole window.
    delete dt.bytes;
    delete dt.incoming;
    delete (dt.tcp as Record<string, unknown> | undefined)?.flags;
    delete (dt.tcp as Record<string, unknown> | undefined)?.retransmits;
    dt.window = window;
    return rec;
  }

  private flowRecord(r: Row, startIso: string, endIso: string, window: Record<string, unknown>, closedAt: number): EcsRecord {
    const rec = this.base(r, startIso, endIso, window);
    const flowId = hash(r.key);
    Object.assign(rec.droptrace, { id: `${this.o.hostName}-${closedAt}-${flowId}`, count: r.count, bytes: r.bytes, flow: { id: flowId } });
    return rec;
  }

  /** Sum overflow rows per (action, reason, direction, path) into one record each. */
  private overflowRecords(rows: Row[], startIso: string, endIso: string, window: Record<string, unknown>, closedAt: number): EcsRecord[] {
    const groups = new Map<string, { rec: EcsRecord; count: number; bytes: number; kernel: number }>();
    for (const r of rows) {
      const rec = this.base(r, startIso, endIso, window);
      const g = `${rec.event.action}|${rec.event.reason ?? ''}|${rec.network?.direction ?? ''}|${(rec.droptrace as Record<string, unknown>).path ?? ''}`;
      let acc = groups.get(g);
      if (!acc) {
        // No flow fields: these occurrences belong to flows we could not keep.
        delete rec.source;
        delete rec.destination;
        delete rec.observer;
        const dt = rec.droptrace as Record<string, unknown>;
        delete dt.netns;
        delete dt.drop;
        if (rec.event.action === 'packet-dropped') dt.drop = { reason_code: (r.d.event as { reason: number }).reason };
        acc = { rec, count: 0, bytes: 0, kernel: 0 };
        groups.set(g, acc);
      }
      acc.count += r.count;
      acc.bytes += r.bytes;
      if (r.d.overflow) acc.kernel += r.count;
    }
    const out: EcsRecord[] = [];
    for (const [g, acc] of groups) {
      Object.assign(acc.rec.droptrace, {
        id: `${this.o.hostName}-${closedAt}-overflow-${hash(g)}`,
        count: acc.count,
        bytes: acc.bytes,
        overflow: { kernel_count: acc.kernel, collector_count: acc.count - acc.kernel },
      });
      this.stats.overflowRecords++;
      this.stats.overflowCount += acc.count;
      out.push(acc.rec);
    }
    return out;
  }

  private track(r: Row, rec: EcsRecord, endIso: string): void {
    const nowMs = Date.parse(endIso);
    const t = this.tracked.get(r.key);
    if (t) {
      t.count += r.count;
      t.bytes += r.bytes;
      t.last = endIso;
      t.lastMs = nowMs;
      t.template = rec;
      // Re-insert so the Map's order is least-recently-seen first.
      this.tracked.delete(r.key);
      this.tracked.set(r.key, t);
      return;
    }
    this.tracked.set(r.key, { key: r.key, first: rec.event.start!, last: endIso, lastMs: nowMs, count: r.count, bytes: r.bytes, template: rec });
  }

  private finalsDue(nowMs: number): EcsRecord[] {
    const out: EcsRecord[] = [];
    for (const t of this.tracked.values()) {
      const evict = this.tracked.size - out.length > this.o.maxFlows * 4;
      if (!evict && nowMs - t.lastMs < this.o.idleTimeoutMs) break;
      out.push(this.finalRecord(t));
    }
    for (const r of out) this.tracked.delete((r.droptrace as { flow: { key: string } }).flow.key);
    for (const r of out) delete (r.droptrace as { flow: { key?: string } }).flow.key;
    this.stats.finals += out.length;
    return out;
  }

  private finalRecord(t: Tracked): EcsRecord {
    const rec: EcsRecord = { ...t.template, event: { ...t.template.event, start: t.first, end: t.last }, droptrace: { ...t.template.droptrace } };
    rec['@timestamp'] = t.last;
    const flowId = hash(t.key);
    Object.assign(rec.droptrace, {
      id: `${this.o.hostName}-final-${flowId}-${Date.parse(t.last)}`,
      // A final record summarizes; it adds nothing to window sums.
      count: 0,
      bytes: 0,
      flow: { id: flowId, key: t.key, final: true, total_count: t.count, total_bytes: t.bytes, first_seen: t.first, last_seen: t.last },
    });
    delete (rec.droptrace as Record<string, unknown>).window;
    return rec;
  }
}
