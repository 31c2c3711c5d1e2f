// Group the lines bpftrace prints when a window closes (flush marker, map
// entries, end marker) into one WindowDump. Windows are numbered by the probe:
// n covers CLOCK_MONOTONIC [phase + (n-1)*I, phase + n*I) (the flush probe
// computes n = (nsecs + I - phase) / I); 0 is the tracer's start.
import type { MapEntry } from '../decode/wire.js';

export interface WindowDump {
  /** Window number whose counts these are (0: tracer start, partial). */
  window: number;
  /** Monotonic ns when the kernel closed it. */
  closedAtNs: number;
  /** True for the last, partial window printed on exit. */
  final: boolean;
  /** The window number at the flush (window + 1 unless a flip was postponed). */
  to?: number;
  entries: MapEntry[];
}

/** Receives a window entry by entry, so a window with a million flows is never held in memory. */
export interface WindowConsumer {
  /** `to`: the window number at the flush; more than window+1 when a flip was postponed (the window grew). */
  begin(window: number, closedAtNs: number, final: boolean, to?: number): void;
  add(e: MapEntry): void;
  /** The kernel's count of every event of one kind in this window (keyless @t<kind> map), printed after its entries. */
  total?(kind: string, count: number): void;
  end(): void;
}

export class WindowAssembler {
  private open = false;
  private buffered: WindowDump | null = null;
  /** Entries that arrived outside a flush (should not happen; counted). */
  stray = 0;
  private readonly consumer: WindowConsumer;

  /** Either a streaming consumer, or a callback that gets each whole window (buffered). */
  constructor(target: WindowConsumer | ((w: WindowDump) => void)) {
    if (typeof target === 'function') {
      this.consumer = {
        begin: (window, closedAtNs, final) => (this.buffered = { window, closedAtNs, final, entries: [] }),
        add: (e) => this.buffered!.entries.push(e),
        end: () => {
          const w = this.buffered!;
          this.buffered = null;
          target(w);
        },
      };
    } else this.consumer = target;
  }

  begin(from: number, ts: number, final: boolean, to?: number): void {
    if (this.open) this.end();
    this.open = true;
    this.consumer.begin(from, ts, final, to);
  }

  entry(e: MapEntry): void {
    if (this.open) this.consumer.add(e);
    else this.stray++;
  }

  total(kind: string, count: number): void {
    if (this.open) this.consumer.total?.(kind, count);
    // bpftrace prints every keyless map once more at exit, after our last
    // marker: a zero total there is that echo, not a stray count.
    else if (count !== 0) this.stray++;
  }

  end(): void {
    if (!this.open) return;
    this.open = false;
    this.consumer.end();
  }
}
