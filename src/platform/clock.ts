// bpftrace's `nsecs` is CLOCK_MONOTONIC (bpf_ktime_get_ns), like Node's
// process.hrtime. One offset converts it to wall-clock time; it is re-read now
// and then so NTP steps are followed.
export interface Clock {
  wallMs(): number;
  monoNs(): bigint;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monoNs: () => process.hrtime.bigint(),
};

export class MonotonicToWall {
  private offsetMs = 0;
  private lastSync = -Infinity;
  constructor(private readonly clock: Clock = systemClock, private readonly resyncMs = 10_000) {
    this.sync();
  }

  private sync(): void {
    this.offsetMs = this.clock.wallMs() - Number(this.clock.monoNs() / 1_000_000n);
    this.lastSync = this.clock.wallMs();
  }

  /** Wall-clock ms for a monotonic ns timestamp from the kernel. */
  toWallMs(monoNs: number): number {
    if (this.clock.wallMs() - this.lastSync > this.resyncMs) this.sync();
    return this.offsetMs + monoNs / 1e6;
  }
}
