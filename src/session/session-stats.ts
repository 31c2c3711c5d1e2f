// What a tracing session counts about itself (droptrace.stats records, the
// summary lines of tail and top): every loss it knows of is one of these.

export interface SessionStats {
  lines: number;
  events: number;
  undecodable: number;
  lost: number;
  restarts: number;
  gaps: number;
  /** Events the in-kernel rate limit kept off the per-event stream. */
  suppressed: number;
  windows: number;
  flowRecords: number;
  overflowCount: number;
  /** Map entries printed outside a flush, or of an unknown shape (both should stay 0). */
  strayEntries: number;
  /** Probe firings the kernel skipped (BPF recursion protection), all probes, this run. */
  kernelMissed: number;
  /** The same by signal (programs named by bpftool; 'unattributed' without it). */
  kernelMissedBySignal: Record<string, number>;
  /** Events the kernel counted that no map could key (a refused insert): in unattributed overflow records. */
  unattributed: number;
  /** The kernel maps of the running tracer: how many, their size in keys, and the memory the kernel charges for them. */
  kernelMaps: { maps: number; keys: number; bytes: number };
  /** Helper calls bpftrace reported failing (e.g. an insert into a full map: then also counted as unattributed). */
  helperErrors: number;
  /** How the tracer was stopped: 'requested' loses nothing; 'signal' (no bpftool, or no answer) may lose the messages bpftrace was handling. */
  stoppedBy: 'requested' | 'signal' | null;
  /** 100 ms ticks a window flip was postponed because userspace had not emptied the other generation yet. */
  windowStalls: number;
  /** Of `undecodable`: lines longer than the line limit (cut, never buffered whole). */
  overlong: number;
}

export function emptyStats(): SessionStats {
  return {
    lines: 0, events: 0, undecodable: 0, lost: 0, restarts: 0, gaps: 0, suppressed: 0, windows: 0, flowRecords: 0, overflowCount: 0, strayEntries: 0,
    kernelMissed: 0, kernelMissedBySignal: {}, unattributed: 0, kernelMaps: { maps: 0, keys: 0, bytes: 0 }, stoppedBy: null, helperErrors: 0, windowStalls: 0, overlong: 0,
  };
}

/**
 * A counter bpftrace prints cumulatively (per bpftrace process: it restarts
 * at 0 with a restarted tracer) turned into deltas.
 */
export class CumulativeCounter {
  private seen = 0;
  /** The increase since the last value seen (0 when it went back, e.g. a new process). */
  delta(value: number): number {
    const d = value > this.seen ? value - this.seen : 0;
    this.seen = value;
    return d;
  }

  reset(): void {
    this.seen = 0;
  }
}
