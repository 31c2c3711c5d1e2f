// What a sink is (where records go: stdout, rotating files, Elasticsearch, …)
// and how one is declared for the registry (./registry.ts): its options
// (rows of the option system, src/config), whether a configuration asks for
// it, the directories it writes into (prepared private and locked by the
// session before anything opens), and how it is opened.
import type { EcsRecord } from '../record/ecs.js';
import type { Writable } from 'node:stream';
import type { OptionSpec } from '../config/index.js';

/** A sink receives finished records. `write` must not throw for a single bad record. */
export interface Sink {
  readonly name: string;
  write(record: EcsRecord): void;
  /** Push everything buffered so far. */
  flush(): Promise<void>;
  /** Flush and release resources; no writes after this. */
  close(): Promise<void>;
  /** Counters for self-stats, e.g. { written: 10, errors: 0 }. */
  stats(): Record<string, number>;
}

/** A command's validated options (its sinks read theirs by name). */
export type SinkConfig = Readonly<Record<string, unknown>>;

export interface SinkContext {
  /** A warning or error line (secrets masked and repeats folded by the caller). */
  log(message: string): void;
  /** Where records go when they are printed (the stdout sink). */
  stdout: Writable;
}

/** A directory a sink writes into: created 0700 or checked as it is; `lock`: one writer at a time. */
export interface SinkDirectory {
  path: string;
  /** In messages: "output directory", "spool directory", … */
  what: string;
  /** The flag that names it, for the lock's purpose ("run --output-dir"). */
  flag: string;
  lock: boolean;
}

export interface SinkDefinition {
  readonly name: string;
  /** Its options, in every command that writes records (run, pcap): flags, env and config file keys. */
  readonly options: readonly OptionSpec[];
  /** Whether this configuration asks for it. */
  enabled(cfg: SinkConfig): boolean;
  directories?(cfg: SinkConfig): SinkDirectory[];
  /** Open it; throws SinkError (exit 5) when it cannot be used at all. */
  open(cfg: SinkConfig, ctx: SinkContext): Promise<Sink>;
}
