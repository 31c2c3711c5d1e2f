// Window dumps → flow records (event.dataset droptrace.flows): one record per
// window × flow × direction × action × reason (drops also × location) with
// the exact count and bytes. Collector memory is bounded: the top `maxFlows`
// flows of a window by count are kept, the rest summed into overflow records
// (as are the kernel's own overflow maps), so every slice still sums exactly.
// A flow gets one `final` record with its totals when its TCP connection
// closes (FIN or RST, probes/flow-ends), when it has not been seen for
// `idleTimeoutMs`, or at shutdown; `droptrace.flow.end_reason` says which.
import { createHash } from 'node:crypto';
import type { Action, EcsRecord } from '../record/ecs.js';
import { decodeEntry, type DecodedEntry } from './keys.js';
import type { WindowDump } from './window.js';
import type { EventWire, FlowEndWire, MapEntry } from '../decode/wire.js';
import { layoutFields, type WireSchema } from '../decode/wire-schema.js';
import { WindowClock } from '../decode/window-clock.js';
import { connectionKeyOfEnd, connectionKeyOfRecord, endReason, type EndReason } from './flow-ends.js';

export type FinalReason = EndReason | 'idle' | 'shutdown' | 'evicted';

/** Turns a wire event into its record (src/enrich: Enricher). */
export interface EventEnricher {
  enrich(ev: EventWire): EcsRecord;
}

export interface FlowAggregatorOptions {
  enricher: EventEnricher;
  /** Monotonic ns → wall-clock ms (src/platform/clock.ts: MonotonicToWall). */
  clock: { toWallMs(monoNs: number): number };
  /** The catalog's wire: map layouts (src/source/catalog.ts: catalog.wire). */
  wire: WireSchema;
  hostName: string;
  intervalNs: bigint;
  phaseNs: bigint;
  /** Monotonic ns the tracer started (start of window 0). */
  startNs: bigint;
  /** Flows kept per window (and tracked for `final`); the rest go to overflow records. */
  maxFlows: number;
  idleTimeoutMs: number;
  /** Service overflow groups per window before the rest go to coarse groups (default: maxFlows, at least 1000). */
  maxOverflowGroups?: number;
}

export interface FlowStats {
  windows: number;
  flowRecords: number;
  overflowRecords: number;
  /** Occurrences counted into overflow records (kernel map full + collector top-K). */
  overflowCount: number;
  finals: number;
  unknownEntries: number;
  /** Connection ends received (lossy TCP sockets closing). */
  connectionEnds: number;
  /**
   * Events the kernel counted (keyless per-window totals) that are in no
   * printed entry: a map insert the kernel refused. Emitted as unattributed
   * overflow records, so sums stay exact; should stay 0 with maps sized for
   * --max-flows.
   */
  unattributed: number;
  /** Printed entries beyond the kernel's total (should never happen; a bug if not 0). */
  totalExcess: number;
}

interface Tracked {
  key: string;
  first: string;
  last: string;
  lastMs: number;
  count: number;
  bytes: number;
  /** GSO segments, for TCP kinds (undefined for drops: no segments field). */
  segments?: number;
  /**
   * The flow's latest record as JSON, the base of its final record. Text, not
   * the record object: up to 4 × maxFlows flows are tracked, and a nested ECS
   * object costs several times its JSON in V8 (~120 MB at 40k flows).
   */
  template: string;
  /** Its TCP connection (netns + both endpoints), null when not TCP. */
  conn: string | null;
}

interface Row {
  d: DecodedEntry;
  entry: MapEntry;
  /** Arrival order within the window (heap tie-break). */
  seq: number;
  count: number;
  bytes: number;
  /** GSO segments (TCP kinds; 0 for drops). */
  segments: number;
}

interface OverflowAcc {
  rec: EcsRecord | null;
  /** The group's event (the service's fields, or the coarse ones), enriched once when the window closes. */
  event: EventWire;
  segmented: boolean;
  count: number;
  bytes: number;
  segments: number;
  kernel: number;
  /** Flows the collector could not keep (each exactly one flow; kernel rows stand for one or more). */
  collectorFlows: number;
}

/** Order for the top-K heap: smaller count first; on ties the later arrival is evicted first. */
const less = (a: Row, b: Row) => a.count < b.count || (a.count === b.count && a.seq > b.seq);

/** A flow's identity across windows (computed only for flows we keep: joining BigInts is not free). */
const keyOf = (r: Row) => `${r.entry.map}|${r.entry.keys.join('.')}`;

/** Rows of one key summed into the first of them (counts, bytes, segments). */
function mergeSameKey(rows: Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) {
    const k = keyOf(r);
    const m = byKey.get(k);
    if (!m) byKey.set(k, { ...r });
    else {
      m.count += r.count;
      m.bytes += r.bytes;
      m.segments += r.segments;
    }
  }
  return [...byKey.values()];
}

function heapPush(h: Row[], r: Row): void {
  h.push(r);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(h[i], h[p])) break;
    [h[i], h[p]] = [h[p], h[i]];
    i = p;
  }
}

function siftDown(h: Row[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && less(h[l], h[m])) m = l;
    if (r < h.length && less(h[r], h[m])) m = r;
    if (m === i) return;
    [h[i], h[m]] = [h[m], h[i]];
    i = m;
  }
}

/** The fields of a map's overflow layout, per packing of its `when` words (computed once per map). */
const serviceFields = new WeakMap<object, { plain: string[]; alt: string[]; when?: { field: string; in: readonly number[] } }>();
function serviceFieldsOf(d: DecodedEntry): string[] {
  const spec = d.map.spec;
  let f = serviceFields.get(spec);
  if (!f) {
    const w = spec.overflow.find((x) => 'bits' in x && x.when) as { when?: { field: string; in: readonly number[] } } | undefined;
    const when = w?.when;
    f = {
      plain: [...layoutFields(spec.overflow, {}), ...Object.keys(spec.derive ?? {})],
      alt: when ? [...layoutFields(spec.overflow, { [when.field]: when.in[0] }), ...Object.keys(spec.derive ?? {})] : [],
      when,
    };
    serviceFields.set(spec, f);
  }
  return f.when && f.when.in.includes(d.event[f.when.field] as number) ? f.alt : f.plain;
}

/**
 * Overflow group of a row: what the kernel's overflow maps key on (the map's
 * overflow layout) — the flow without its source side (the service the lost
 * packets were for: netns, device, path, location, reason or TCP state,
 * protocol, destination port and address) — so a flood from many sources
 * still names its target.
 */
function serviceKey(d: DecodedEntry): string {
  const ev = d.event;
  const fields = serviceFieldsOf(d);
  const parts: unknown[] = [d.kind, ev.t];
  for (let i = 0; i < fields.length; i++) parts.push(ev[fields[i]]);
  return parts.join('|');
}

/** The event an overflow group is written as: the service's fields only. */
function serviceEvent(d: DecodedEntry): EventWire {
  const ev = d.event;
  const out: EventWire = { t: ev.t, ts: ev.ts };
  for (const f of serviceFieldsOf(d)) if (ev[f] !== undefined) out[f] = ev[f];
  return out;
}

/** The coarse group once a window has too many service groups: kind, type and the map's coarse fields, no flow fields. */
function coarseOf(d: DecodedEntry): { key: string; event: EventWire } {
  const ev = d.event;
  const out: EventWire = { t: ev.t, ts: ev.ts };
  let key = `c|${d.kind}|${ev.t}`;
  for (const c of d.map.spec.coarse) {
    const nonzero = c.endsWith(':nonzero');
    const f = nonzero ? c.slice(0, -':nonzero'.length) : c;
    const v = nonzero ? (ev[f] ? 1 : 0) : ev[f];
    if (v === undefined) continue;
    out[f] = v;
    key += `|${v}`;
  }
  return { key, event: out };
}

const hash = (s: string) => createHash('sha1').update(s).digest('base64url').slice(0, 22);

export class FlowAggregator {
  readonly stats: FlowStats = { windows: 0, flowRecords: 0, overflowRecords: 0, overflowCount: 0, finals: 0, unknownEntries: 0, connectionEnds: 0, unattributed: 0, totalExcess: 0 };
  private readonly tracked = new Map<string, Tracked>();
  /** Connection ends not yet applied: applied by the first window that closes after them. */
  private ends: Array<{ ts: number; conn: string; reason: EndReason }> = [];
  private seq = 0;
  /** Bounds of the window most recently closed. */
  lastWindow: { startIso: string; endIso: string; final: boolean } | null = null;

  private readonly windowClock: WindowClock;

  constructor(private readonly o: FlowAggregatorOptions) {
    this.windowClock = new WindowClock(o.intervalNs, o.phaseNs);
  }

  /** Records for one closed window (flows, overflow, then any finals now due). */
  onWindow(w: WindowDump): EcsRecord[] {
    this.begin(w.window, w.closedAtNs, w.final, w.to);
    for (const e of w.entries) this.add(e);
    return this.end();
  }

  private cur: {
    startIso: string; endIso: string; ts: number; closedAt: number; window: Record<string, unknown>;
    /** Min-heap by count of the flows kept so far (at most maxFlows). */
    heap: Row[];
    overflow: Map<string, OverflowAcc>;
    /** Per kind: occurrences in printed entries, and the kernel's total (when the program prints one). */
    summed: Map<string, number>;
    totals: Map<string, number>;
  } | null = null;

  private attachedNs: bigint | null = null;
  /** bpftrace (re)attached its probes: window 0 of that process starts here, not at collector start. */
  attached(monoNs: bigint): void {
    this.attachedNs = monoNs;
  }

  /** Start a window; entries follow through add(), then end(). Memory: O(maxFlows). */
  begin(window: number, closedAtNs: number, final: boolean, to?: number): void {
    this.stats.windows++;
    const I = this.windowClock.intervalNs;
    // The flush probe numbers a window by its end (src/decode/window-clock.ts):
    // window w holds [P + (w-1)·I, P + w·I). Window 0 is the tracer's start
    // up to the first flush, so it ends at that flush.
    // Window 0 cannot be longer than an interval (the first 100 ms tick flips),
    // whatever bpftrace's own start-up took.
    const attached = this.attachedNs ?? this.o.startNs;
    const w0Start = attached > BigInt(closedAtNs) - I ? attached : BigInt(closedAtNs) - I;
    const startNs = window > 0 ? this.windowClock.startOf(BigInt(window)) : w0Start;
    // A postponed flip (userspace lagging) makes one window span several intervals.
    const spans = to !== undefined && window > 0 && to > window ? BigInt(to - window) : 1n;
    const endNs = final || window === 0 ? BigInt(closedAtNs) : startNs + spans * I;
    const startIso = new Date(this.o.clock.toWallMs(Number(startNs))).toISOString();
    const endIso = new Date(this.o.clock.toWallMs(Number(endNs))).toISOString();
    this.lastWindow = { startIso, endIso, final };
    this.cur = {
      startIso, endIso, ts: Number(endNs), closedAt: closedAtNs,
      window: { interval_s: Number(I / 1_000_000_000n), start_ns: String(startNs), ...(final ? { final: true } : {}) },
      heap: [], overflow: new Map(), summed: new Map(this.o.wire.mapSpecs.map((m) => [m.kind, 0])), totals: new Map(),
    };
  }

  /** The kernel's total of one kind for the open window (`@td`, `@tr`, `@ti`: t + kind). */
  total(name: string, count: number): void {
    const c = this.cur;
    const kind = name.slice(1);
    if (!c || !c.summed.has(kind)) return;
    // Both generations print their total in the final window: add them.
    c.totals.set(kind, (c.totals.get(kind) ?? 0) + count);
  }

  add(e: MapEntry): void {
    const c = this.cur;
    if (!c) return;
    const d = decodeEntry(this.o.wire, e, c.ts);
    if (!d) {
      this.stats.unknownEntries++;
      return;
    }
    const row: Row = { d, entry: e, seq: this.seq++, count: e.count, bytes: e.total, segments: e.segments };
    c.summed.set(d.kind, c.summed.get(d.kind)! + e.count);
    if (d.overflow) return this.addOverflow(row);
    const h = c.heap;
    if (h.length < this.o.maxFlows) {
      heapPush(h, row);
      return;
    }
    // Keep the biggest losers: a row beats the smallest kept one only if larger
    // (ties: the earlier arrival stays).
    if (less(h[0], row)) {
      const out = h[0];
      h[0] = row;
      siftDown(h, 0);
      this.addOverflow(out);
    } else this.addOverflow(row);
  }

  end(): EcsRecord[] {
    const c = this.cur;
    if (!c) return [];
    this.cur = null;
    // The final window holds what bpftrace printed at exit: both generations
    // when it stopped between a flip and its dump, so one key can come twice.
    // One record per flow and window (its id is the flow's and the window's).
    const rows = c.window.final ? mergeSameKey(c.heap) : c.heap;
    const flows = rows.sort((a, b) => b.count - a.count || a.seq - b.seq);
    const out: EcsRecord[] = [];
    for (const r of flows) {
      const rec = this.flowRecord(r, c.startIso, c.endIso, c.window, c.closedAt);
      out.push(rec);
      this.track(r, rec, c.endIso);
    }
    this.stats.flowRecords += flows.length;
    // Groups that enrich to the same record (e.g. two ICMP codes of one
    // reason in a coarse group, or two CA states of one retransmit type) are
    // merged, so each record shape has one overflow record.
    const merged = new Map<string, OverflowAcc & { rec: EcsRecord }>();
    for (const acc of c.overflow.values()) {
      const rec = this.overflowRecord(acc, c.startIso, c.endIso, c.window);
      const g = JSON.stringify([rec.event, rec.network, rec.destination, rec.observer, rec.droptrace]);
      const m = merged.get(g);
      if (m) {
        m.count += acc.count;
        m.bytes += acc.bytes;
        m.segments += acc.segments;
        m.kernel += acc.kernel;
        m.collectorFlows += acc.collectorFlows;
      } else merged.set(g, { ...acc, rec });
    }
    for (const [g, acc] of merged) {
      Object.assign(acc.rec.droptrace, {
        id: `${this.o.hostName}-${c.closedAt}-overflow-${hash(g)}`,
        count: acc.count,
        bytes: acc.bytes,
        ...(acc.segmented ? { segments: acc.segments } : {}),
        overflow: { kernel_count: acc.kernel, collector_count: acc.count - acc.kernel, collector_flows: acc.collectorFlows },
      });
      this.stats.overflowRecords++;
      this.stats.overflowCount += acc.count;
      out.push(acc.rec);
    }
    out.push(...this.unattributedRecords(c));
    out.push(...this.closedFinals(c.closedAt));
    out.push(...this.finalsDue(this.o.clock.toWallMs(c.ts)));
    return out;
  }

  /** Events the kernel counted but could not key (see FlowStats.unattributed), one record per kind. */
  private unattributedRecords(c: NonNullable<typeof this.cur>): EcsRecord[] {
    const out: EcsRecord[] = [];
    for (const [kind, total] of c.totals) {
      const missing = total - c.summed.get(kind)!;
      if (missing < 0) this.stats.totalExcess -= missing;
      if (missing <= 0) continue;
      this.stats.unattributed += missing;
      this.stats.overflowRecords++;
      this.stats.overflowCount += missing;
      out.push({
        '@timestamp': c.startIso,
        event: { kind: 'metric', category: ['network'], action: this.o.wire.map(kind)!.spec.unattributedAction as Action, dataset: 'droptrace.flows', reason: 'unattributed', start: c.startIso, end: c.endIso },
        host: { name: this.o.hostName },
        droptrace: {
          id: `${this.o.hostName}-${c.closedAt}-unattributed-${kind}`,
          count: missing,
          window: c.window,
          overflow: { kernel_count: 0, collector_count: 0, unattributed_count: missing },
        },
      });
    }
    return out;
  }

  /**
   * A lossy TCP connection closed. Its flows get their final record when the
   * window holding its last counts closes (the kernel counted them before the
   * close, so that is the first flush at or after `ts`).
   */
  connectionEnded(e: FlowEndWire): void {
    this.stats.connectionEnds++;
    // Bounded: a close storm between two flushes cannot grow memory without limit.
    if (this.ends.length >= this.o.maxFlows * 4) this.ends.shift();
    this.ends.push({ ts: e.ts, conn: connectionKeyOfEnd(e), reason: endReason(e.oldstate) });
  }

  private closedFinals(closedAt: number): EcsRecord[] {
    if (this.ends.length === 0) return [];
    const due = new Map<string, EndReason>();
    const later: typeof this.ends = [];
    for (const e of this.ends) {
      if (e.ts <= closedAt) due.set(e.conn, e.reason);
      else later.push(e);
    }
    this.ends = later;
    if (due.size === 0) return [];
    const out: EcsRecord[] = [];
    for (const t of this.tracked.values()) {
      const reason = t.conn === null ? undefined : due.get(t.conn);
      if (reason) out.push(this.finalRecord(t, reason));
    }
    return this.forget(out);
  }

  /**
   * Sum a row into its overflow group. The group is read off the decoded key
   * (what the kernel's own overflow maps are keyed by) so a window with a
   * million flows costs one enrichment per group, not per flow.
   */
  private addOverflow(r: Row): void {
    const c = this.cur!;
    let key = serviceKey(r.d);
    let acc = c.overflow.get(key);
    let make = () => serviceEvent(r.d);
    // Bounded: beyond maxOverflowGroups service groups, rows go to coarse groups.
    if (!acc && c.overflow.size >= (this.o.maxOverflowGroups ?? Math.max(this.o.maxFlows, 1000))) {
      const g = coarseOf(r.d);
      key = g.key;
      acc = c.overflow.get(key);
      make = () => g.event;
    }
    if (!acc) {
      acc = { rec: null, event: make(), segmented: r.d.map.packed, count: 0, bytes: 0, segments: 0, kernel: 0, collectorFlows: 0 };
      c.overflow.set(key, acc);
    }
    acc.count += r.count;
    acc.bytes += r.bytes;
    acc.segments += r.segments;
    if (r.d.overflow) acc.kernel += r.count;
    else acc.collectorFlows++;
  }

  /** The record an overflow group is written as: the service (no source side), or no flow fields for a coarse group. */
  private overflowRecord(acc: OverflowAcc, startIso: string, endIso: string, window: Record<string, unknown>): EcsRecord {
    return this.base(acc.event, startIso, endIso, window);
  }

  /** On shutdown: a final record for every flow still tracked. */
  finish(): EcsRecord[] {
    return [...this.finishEach()];
  }

  /**
   * The same, one record at a time: the caller writes each before the next is
   * built (tens of thousands of final records at once were the collector's
   * peak memory at shutdown).
   */
  *finishEach(): Generator<EcsRecord> {
    // Deleting the current entry while iterating a Map is safe.
    for (const t of this.tracked.values()) yield this.forget([this.finalRecord(t, 'shutdown')])[0];
  }

  get trackedFlows(): number {
    return this.tracked.size;
  }

  /** A window record: the event enriched (a key holds no per-event details), as a metric over the window. */
  private base(ev: EventWire, startIso: string, endIso: string, window: Record<string, unknown>): EcsRecord {
    const rec = this.o.enricher.enrich(ev);
    rec['@timestamp'] = startIso;
    rec.event = { ...rec.event, kind: 'metric', dataset: 'droptrace.flows', start: startIso, end: endIso };
    (rec.droptrace as Record<string, unknown>).window = window;
    return rec;
  }

  private flowRecord(r: Row, startIso: string, endIso: string, window: Record<string, unknown>, closedAt: number): EcsRecord {
    const rec = this.base(r.d.event, startIso, endIso, window);
    const flowId = hash(keyOf(r));
    Object.assign(rec.droptrace, { id: `${this.o.hostName}-${closedAt}-${flowId}`, count: r.count, bytes: r.bytes, ...(r.d.map.packed ? { segments: r.segments } : {}), flow: { id: flowId } });
    return rec;
  }

  private track(r: Row, rec: EcsRecord, endIso: string): void {
    const nowMs = Date.parse(endIso);
    const key = keyOf(r);
    const t = this.tracked.get(key);
    if (t) {
      t.count += r.count;
      t.bytes += r.bytes;
      if (r.d.map.packed) t.segments = (t.segments ?? 0) + r.segments;
      t.last = endIso;
      t.lastMs = nowMs;
      t.template = JSON.stringify(rec);
      // Re-insert so the Map's order is least-recently-seen first.
      this.tracked.delete(key);
      this.tracked.set(key, t);
      return;
    }
    this.tracked.set(key, { key, first: rec.event.start!, last: endIso, lastMs: nowMs, count: r.count, bytes: r.bytes, ...(r.d.map.packed ? { segments: r.segments } : {}), template: JSON.stringify(rec), conn: connectionKeyOfRecord(rec) });
  }

  private finalsDue(nowMs: number, why?: FinalReason): EcsRecord[] {
    const out: EcsRecord[] = [];
    for (const t of this.tracked.values()) {
      const evict = this.tracked.size - out.length > this.o.maxFlows * 4;
      if (!evict && nowMs - t.lastMs < this.o.idleTimeoutMs) break;
      out.push(this.finalRecord(t, why ?? (evict ? 'evicted' : 'idle')));
    }
    return this.forget(out);
  }

  /** Stop tracking the flows these final records close. */
  private forget(out: EcsRecord[]): EcsRecord[] {
    for (const r of out) this.tracked.delete((r.droptrace as { flow: { key: string } }).flow.key);
    for (const r of out) delete (r.droptrace as { flow: { key?: string } }).flow.key;
    this.stats.finals += out.length;
    return out;
  }

  private finalRecord(t: Tracked, reason: FinalReason): EcsRecord {
    const rec = JSON.parse(t.template) as EcsRecord;
    rec.event = { ...rec.event, start: t.first, end: t.last };
    rec['@timestamp'] = t.last;
    const flowId = hash(t.key);
    Object.assign(rec.droptrace, {
      id: `${this.o.hostName}-final-${flowId}-${Date.parse(t.last)}`,
      // A final record summarizes; it adds nothing to window sums (segments
      // included: the template is the flow's last window record).
      count: 0,
      bytes: 0,
      ...(t.segments !== undefined ? { segments: 0 } : {}),
      flow: { id: flowId, key: t.key, final: true, end_reason: reason, total_count: t.count, total_bytes: t.bytes, ...(t.segments !== undefined ? { total_segments: t.segments } : {}), first_seen: t.first, last_seen: t.last },
    });
    delete (rec.droptrace as Record<string, unknown>).window;
    return rec;
  }
}
