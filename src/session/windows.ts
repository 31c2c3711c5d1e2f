// In-kernel windows → flow records: the window dumps bpftrace prints are
// assembled (src/aggregate/window.ts) into flow records (flow-records.ts);
// after each window the session's counters follow the aggregator's.
import type { EcsRecord } from '../record/ecs.js';
import type { MapEntry, FlowEndWire } from '../decode/wire.js';
import type { WireSchema } from '../decode/wire-schema.js';
import type { WindowClock } from '../decode/window-clock.js';
import { WindowAssembler } from '../aggregate/window.js';
import { FlowAggregator, type EventEnricher } from '../aggregate/flow-records.js';
import type { SessionStats } from './session-stats.js';

export interface WindowsOptions {
  enricher: EventEnricher;
  clock: { toWallMs(monoNs: number): number };
  wire: WireSchema;
  window: WindowClock;
  hostName: string;
  /** Monotonic ns now (the tracer's start, and the end of the final window). */
  monoNs: () => bigint;
  collectorMaxFlows: number;
  idleTimeoutS: number;
  stats: SessionStats;
  emit: (r: EcsRecord) => void;
  warn: (m: string) => void;
  /** After each window's records were emitted. */
  closed: (w: { startIso: string; endIso: string; final: boolean }) => void;
}

export class Windows {
  readonly flows: FlowAggregator;
  private readonly assembler: WindowAssembler;

  constructor(private readonly o: WindowsOptions) {
    const flows = new FlowAggregator({
      enricher: o.enricher, clock: o.clock, wire: o.wire, hostName: o.hostName, intervalNs: o.window.intervalNs, phaseNs: o.window.phaseNs,
      startNs: o.monoNs(), maxFlows: o.collectorMaxFlows, idleTimeoutMs: o.idleTimeoutS * 1000,
    });
    this.flows = flows;
    this.assembler = new WindowAssembler({
      begin: (window, closedAt, final, to) => flows.begin(window, closedAt, final, to),
      add: (e) => flows.add(e),
      total: (kind, n) => flows.total(kind, n),
      end: () => this.windowEnded(),
    }, () => Number(o.monoNs()));
  }

  private windowEnded(): void {
    const { flows, o } = this;
    const s = o.stats;
    const recs = flows.end();
    s.windows = flows.stats.windows;
    s.flowRecords = flows.stats.flowRecords;
    s.overflowCount = flows.stats.overflowCount;
    if (flows.stats.unattributed > s.unattributed) {
      if (s.unattributed === 0) o.warn(`${flows.stats.unattributed} events could not be keyed in a full kernel map and are counted as unattributed (raise --kernel-map-keys, or leave it at 0)`);
      s.unattributed = flows.stats.unattributed;
    }
    s.strayEntries = flows.stats.unknownEntries + this.assembler.stray;
    for (const r of recs) o.emit(r);
    if (flows.lastWindow) o.closed(flows.lastWindow);
  }

  begin(from: number, ts: number, final: boolean, to: number): void {
    this.assembler.begin(from, ts, final, to);
  }

  entry(e: MapEntry): void {
    this.assembler.entry(e);
  }

  total(name: string, value: number): void {
    this.assembler.total(name, value);
  }

  /** The open window ended (its end marker, or the tracer's output ended: then it is the final one). */
  end(): void {
    this.assembler.end();
  }

  /** bpftrace (re)attached: window 0 of that process starts now. */
  attached(): void {
    this.flows.attached(this.o.monoNs());
  }

  connectionEnded(e: FlowEndWire): void {
    this.flows.connectionEnded(e);
  }

  /** Final records of the flows still open, one at a time. */
  finishEach(): Generator<EcsRecord> {
    return this.flows.finishEach();
  }
}
