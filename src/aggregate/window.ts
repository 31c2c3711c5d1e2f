// Group the lines bpftrace prints when a window closes (flush marker, map
// entries, end marker) into one WindowDump. Windows are numbered by the probe:
// n covers CLOCK_MONOTONIC [phase + n*I, phase + (n+1)*I).
import type { MapEntry } from '../decode/wire.js';

export interface WindowDump {
  /** Window number whose counts these are (0: tracer start, partial). */
  window: number;
  /** Monotonic ns when the kernel closed it. */
  closedAtNs: number;
  /** True for the last, partial window printed on exit. */
  final: boolean;
  entries: MapEntry[];
}

export class WindowAssembler {
  private open: WindowDump | null = null;
  /** Entries that arrived outside a flush (should not happen; counted). */
  stray = 0;

  constructor(private readonly onWindow: (w: WindowDump) => void) {}

  begin(from: number, ts: number, final: boolean): void {
    if (this.open) this.end();
    this.open = { window: from, closedAtNs: ts, final, entries: [] };
  }

  entry(e: MapEntry): void {
    if (this.open) this.open.entries.push(e);
    else this.stray++;
  }

  end(): void {
    const w = this.open;
    this.open = null;
    if (w) this.onWindow(w);
  }
}
