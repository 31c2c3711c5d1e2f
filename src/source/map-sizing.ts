// How big bpftrace must make its maps for `--max-flows` keys per window.
// bpftrace sizes keyed maps from one setting (BPFTRACE_MAP_KEYS_MAX, renamed
// BPFTRACE_MAX_MAP_KEYS in 0.19; 0.17 also sizes every keyless map with it),
// default 4,096 — and an update to a full BPF hash map fails silently.
// Measured with bpftool: bpftrace 0.17 stores a stats() entry as two map
// elements (count and total under an extra key word: key 120 B for our 112 B
// key), 0.23 as one element with a 16-byte value; so 0.17 needs twice the
// elements per flow. The seen map and overflow maps take one each.
import { type BpftraceVersion, versionAtLeast } from './bpftrace-binary.js';

/** Slack over the bound: racing CPUs can each create a key past the (unlocked) per-window count. */
const SLACK = 1024;

export interface MapSizing {
  /** max_entries of every keyed map. */
  keys: number;
  /** Environment for bpftrace. */
  env: Record<string, string>;
  /** Map elements one flow takes in a stats() map with this bpftrace. */
  elementsPerFlow: number;
}

/** Elements a stats() map needs per key: 2 before bpftrace 0.21 (the first version known to use one; 0.17 measured to use two). */
export function statsElementsPerKey(v: BpftraceVersion): number {
  return versionAtLeast(v, 0, 21) ? 1 : 2;
}

/** Map size for `maxFlows` keys per window; `override` (--kernel-map-keys) sets it as given, e.g. to test the counted loss. */
export function kernelMapSizing(v: BpftraceVersion, maxFlows: number, override?: number): MapSizing {
  const elementsPerFlow = statsElementsPerKey(v);
  const keys = override && override > 0 ? Math.trunc(override) : maxFlows * elementsPerFlow + SLACK;
  const env: Record<string, string> = { [versionAtLeast(v, 0, 19) ? 'BPFTRACE_MAX_MAP_KEYS' : 'BPFTRACE_MAP_KEYS_MAX']: String(keys) };
  return { keys, env, elementsPerFlow };
}
