// What every signal's enrich function may use: record ids and times, kernel
// symbols and enum names from the running kernel, interface names and the
// path classifier. One Enricher (./enricher.ts) provides it for a session.
import type { KallsymsSymbolizer } from './kallsyms.js';
import type { ReasonTable } from './reasons.js';
import type { InterfaceResolver } from './interfaces.js';
import type { PathClassifier } from './direction.js';
import type { EventWire } from '../decode/wire.js';
import type { EcsRecord } from '../record/ecs.js';

export interface EnrichContext {
  readonly hostName: string;
  readonly symbols: KallsymsSymbolizer;
  /** Drop reason names (probes/drops "names": dropReason). */
  readonly reasons: ReasonTable;
  /** Other enums named by the running kernel, by the catalog's "names" (e.g. resetReason). */
  readonly names: Readonly<Record<string, ReasonTable | undefined>>;
  readonly interfaces?: InterfaceResolver;
  readonly paths: PathClassifier;
  /** True when loss probes are observed directly (fentry/kprobe). */
  readonly tlpObserved: boolean;
  /** ISO time of a kernel (monotonic) timestamp. */
  iso(monoNs: number): string;
  /** A unique, stable id for an event record. */
  id(ev: EventWire): string;
}

/** One signal's enrichment: its wire event → its record. Fields a map key does not hold are absent, and left out. */
export type EnrichFn = (c: EnrichContext, ev: EventWire) => EcsRecord;
