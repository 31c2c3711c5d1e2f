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
  /** Totals that arrived outside any window and were not zero (should not happen; counted). */
  stray = 0;
  private readonly consumer: WindowConsumer;
  /** The window being counted by the kernel: the `to` of the last flush. */
  private current = 0;

  /**
   * Either a streaming consumer, or a callback that gets each whole window
   * (buffered). `now` is the monotonic clock (ns) for the final window.
   */
  constructor(target: WindowConsumer | ((w: WindowDump) => void), private readonly now: () => number = () => Number(process.hrtime.bigint())) {
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
    if (to !== undefined && to > 0) this.current = to;
    this.consumer.begin(from, ts, final, to);
  }

  /**
   * Counts printed outside a flush are bpftrace's own print of our maps at
   * exit (src/source/program.ts): the last, partial window, which stays open
   * until end() (the tracer's output ended).
   */
  private openFinal(): void {
    this.open = true;
    this.consumer.begin(this.current, this.now(), true);
  }

  entry(e: MapEntry): void {
    if (!this.open) this.openFinal();
    this.consumer.add(e);
  }

  total(kind: string, count: number): void {
    if (!this.open) this.openFinal();
    this.consumer.total?.(kind, count);
  }

  end(): void {
    if (!this.open) return;
    this.open = false;
    this.consumer.end();
  }
}
