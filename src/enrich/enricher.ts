// Wire event → ECS record: each signal's enrich function (./signals.ts) with
// what they share (./context.ts): symbolized locations, names from the
// running kernel, interface names, direction and path, record ids and times.
// Enrichment failures never drop an event: missing names are simply left out.
import type { EcsRecord } from '../record/ecs.js';
import type { EventWire } from '../decode/wire.js';
import type { KallsymsSymbolizer } from './kallsyms.js';
import type { ReasonTable } from './reasons.js';
import type { InterfaceResolver } from './interfaces.js';
import { PathClassifier } from './direction.js';
import { MonotonicToWall } from '../platform/clock.js';
import type { EnrichContext } from './context.js';
import { ENRICH_BY_TYPE } from './signals.js';

export interface EnricherDeps {
  symbols: KallsymsSymbolizer;
  reasons: ReasonTable;
  /** Other enums named by the running kernel (the catalog's "names"), e.g. resetReason. */
  names?: Record<string, ReasonTable>;
  interfaces?: InterfaceResolver;
  hostName: string;
  clock?: MonotonicToWall;
  /** True when loss probes are observed directly (fentry/kprobe). */
  tlpObserved?: boolean;
}

export class Enricher implements EnrichContext {
  readonly paths: PathClassifier;
  readonly hostName: string;
  readonly symbols: KallsymsSymbolizer;
  readonly reasons: ReasonTable;
  readonly names: Readonly<Record<string, ReasonTable | undefined>>;
  readonly interfaces?: InterfaceResolver;
  readonly tlpObserved: boolean;
  private readonly clock: MonotonicToWall;
  private lastIdKey = '';
  private idSeq = 0;

  constructor(d: EnricherDeps) {
    const ifs = d.interfaces;
    this.paths = new PathClassifier(d.symbols, ifs?.isLocalAddress ? (ns, ip) => ifs.isLocalAddress(ns, ip) : undefined);
    this.clock = d.clock ?? new MonotonicToWall();
    this.hostName = d.hostName;
    this.symbols = d.symbols;
    this.reasons = d.reasons;
    this.names = d.names ?? {};
    this.interfaces = d.interfaces;
    this.tlpObserved = d.tlpObserved ?? false;
  }

  /** The record of one event; throws for an event type no signal enriches (a bug: the catalog and ./signals.ts disagree). */
  enrich(ev: EventWire): EcsRecord {
    const f = ENRICH_BY_TYPE[ev.t];
    if (!f) throw new Error(`no enrich function for event type ${JSON.stringify(ev.t)}`);
    return f(this, ev);
  }

  id(ev: EventWire): string {
    // ts + cpu is unique per event except for bursts freed in the same ns on
    // one CPU; a sequence number disambiguates those.
    const key = `${ev.ts}-${ev.cpu ?? 0}-${ev.t}`;
    this.idSeq = key === this.lastIdKey ? this.idSeq + 1 : 0;
    this.lastIdKey = key;
    return `${this.hostName}-${key}-${this.idSeq}`;
  }

  /** Kernel address → location, for callers outside the per-event path (stacks). */
  symbolize(hexAddress: string) {
    return this.symbols.lookup(hexAddress);
  }

  private isoMs = NaN;
  private isoText = '';
  /** ISO time of a kernel timestamp; events within one millisecond share the string. */
  iso(monoNs: number): string {
    const ms = Math.floor(this.clock.toWallMs(monoNs));
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }
}
