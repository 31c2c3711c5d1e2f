// The one definition of aggregation windows, shared by the flush probe that
// numbers them (src/source/program.ts prints its bpftrace expression) and the
// collector that places them in time (src/aggregate/flow-records.ts, the
// session's plausibility check of flush markers).
//
// Window n covers CLOCK_MONOTONIC [phase + (n-1)·I, phase + n·I): numbered by
// its end, n = (t + I - phase) / I in integer arithmetic. Windows align to the
// wall clock: the phase makes every boundary a wall-clock multiple of I.
// Window 0 is the tracer's start up to its first flush.

export const DEFAULT_INTERVAL_S = 10;

export class WindowClock {
  /** Phase taken modulo the interval (0 ≤ phaseNs < intervalNs). */
  readonly phaseNs: bigint;

  /** Throws on an interval ≤ 0 or a value that is no u64 (never from user input: the CLI bounds --interval). */
  constructor(readonly intervalNs: bigint, phaseNs: bigint) {
    u64(intervalNs, 'interval');
    u64(phaseNs, 'phase');
    if (intervalNs === 0n) throw new Error('internal: interval out of range: 0');
    this.phaseNs = phaseNs % intervalNs;
  }

  /**
   * Windows of `intervalS` seconds whose boundaries fall on wall-clock
   * multiples of the interval: `offsetNs` is wall − monotonic (ns) now.
   */
  static aligned(intervalS: number, offsetNs: bigint): WindowClock {
    const intervalNs = BigInt(Math.round(intervalS * 1e9));
    return new WindowClock(intervalNs, (((-offsetNs) % intervalNs) + intervalNs) % intervalNs);
  }

  /** The window open at monotonic time t. */
  windowAt(monoNs: bigint): bigint {
    return (monoNs + this.intervalNs - this.phaseNs) / this.intervalNs;
  }

  /** Start of window n ≥ 1. */
  startOf(window: bigint): bigint {
    return this.phaseNs + (window - 1n) * this.intervalNs;
  }

  /** The same arithmetic as a bpftrace expression over `nsecs` (integers rendered here; nothing else is spliced). */
  bpftraceWindowExpr(): string {
    return `(nsecs + ${u64(this.intervalNs, 'interval')} - ${u64(this.phaseNs, 'phase')}) / ${u64(this.intervalNs, 'interval')}`;
  }
}

function u64(v: bigint, what: string): string {
  if (v < 0n || v > 0xffffffffffffffffn) throw new Error(`internal: ${what} out of range: ${v}`);
  return v.toString();
}
