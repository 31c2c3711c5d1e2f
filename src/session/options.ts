// What the sessions read from a command's validated options (the option rows
// of src/config and src/cli/options.ts; keys as on the CLI).
import type { Writable } from 'node:stream';
import type { RawFilters } from '../filters/filters.js';
import type { SessionDeps } from './trace-session.js';
import type { StopOptions } from './until-stopped.js';

export interface TracerOptions {
  bpftrace?: string;
  /** Seconds. */
  duration?: number;
  'ready-file'?: string;
  'filter-host'?: string[];
  'filter-port'?: string[];
  'filter-proto'?: string[];
  'filter-iface'?: string[];
  'filter-netns'?: string[];
  'filter-reason'?: string[];
  'exclude-reason'?: string[];
}

export function rawFiltersFrom(a: TracerOptions): RawFilters {
  return {
    host: a['filter-host'], port: a['filter-port'], proto: a['filter-proto'], iface: a['filter-iface'],
    netns: a['filter-netns'], reason: a['filter-reason'], excludeReason: a['exclude-reason'],
  };
}

export const durationMs = (a: { duration?: number }): number | undefined => (a.duration === undefined ? undefined : a.duration * 1000);

/** Whether to colour: the option, else a TTY without NO_COLOR. */
export const useColor = (option: boolean | undefined, out: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean => option ?? (out.isTTY === true && !env.NO_COLOR);

/** What a long-running command can be given instead of the process's own (tests pass fakes). */
export interface CommandDeps {
  stdout?: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr?: Writable;
  /** The tracing session's parts: tracer, capabilities, symbols, … */
  session?: SessionDeps;
  /** Taken as the effective uid (root checks). */
  uid?: number;
  /** How a stop is noticed (signals, the launcher going away). */
  stop?: StopOptions;
}
