// One line from bpftrace → what it means for the session: an event, a stack
// frame, a connection end, a window's flush marker, entries and totals, a
// cumulative counter, a lost-events report, bpftrace's own diagnostics, or
// something undecodable (counted, never fatal).
import type { EventWire, FlowEndWire, LineDecoder, MapEntry } from '../decode/wire.js';
import type { WindowClock } from '../decode/window-clock.js';

export interface DispatchHandlers {
  event(ev: EventWire): void;
  stackFrame(address: string): void;
  stackEnd(): void;
  flowEnd(e: FlowEndWire): void;
  /** A window closes: `from` counted up to `to` (0 and final at exit). */
  flush(from: number, to: number, ts: number, final: boolean): void;
  flushEnd(): void;
  mapEntry(e: MapEntry): void;
  /** A per-window keyless total (@td0 …). */
  windowTotal(name: string, value: number): void;
  /** A cumulative counter of the program (@stalls, @suppressed). */
  counter(name: 'stalls' | 'suppressed', value: number): void;
  helperError(helper: string, retcode: number): void;
  lost(count: number): void;
  undecodable(line: string, why: string): void;
}

export interface DispatcherOptions {
  decode: LineDecoder;
  /** Names of the per-window totals (t + each map kind). */
  totals: ReadonlySet<string>;
  /** The windows' clock, when aggregating: flush markers are checked against it. */
  clock?: WindowClock | null;
}

export class LineDispatcher {
  /** A bpftrace diagnostic header was the last line: the next one echoes our source. */
  private echoExpected = false;

  constructor(private readonly o: DispatcherOptions, private readonly h: DispatchHandlers) {}

  /**
   * Nothing in a line may crash the collector: one that does not decode, or
   * that fails further down (a bug for some value we did not foresee), is
   * counted as undecodable and the run goes on.
   */
  line(line: string): void {
    try {
      this.handle(line);
    } catch (e) {
      this.h.undecodable(line, `could not be processed: ${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}`);
    }
  }

  /** A flush marker must name windows that exist at its timestamp; anything else would make impossible window times. */
  private implausibleFlush(from: number, to: number, ts: number, final: boolean): string | null {
    const clock = this.o.clock;
    if (!clock) return null;
    // The window open at ts (the probe computes it the same way from nsecs).
    const now = clock.windowAt(BigInt(ts));
    if (BigInt(from) > now + 1n) return `flush window ${from} is after the window at its timestamp (${now})`;
    if (!final && BigInt(to) > now + 1n) return `flush target window ${to} is after the window at its timestamp (${now})`;
    return null;
  }

  private handle(line: string): void {
    const m = this.o.decode(line);
    const h = this.h;
    switch (m.kind) {
      case 'event':
        return h.event(m.event);
      case 'stack-frame':
        return h.stackFrame(m.address);
      case 'stack-end':
        return h.stackEnd();
      case 'flow-end':
        return h.flowEnd(m.end);
      case 'flush': {
        const bad = this.implausibleFlush(m.from, m.to, m.ts, m.final);
        // Its entries then count as printed outside a flush: into the window the kernel is counting (none lost).
        if (bad) return h.undecodable(line, bad);
        return h.flush(m.from, m.to, m.ts, m.final);
      }
      case 'flush-end':
        return h.flushEnd();
      case 'map-entry':
        return h.mapEntry(m.entry);
      case 'scalar':
        if (m.gen !== undefined && this.o.totals.has(m.name)) return h.windowTotal(m.name, m.value);
        if (m.name === 'stalls' || m.name === 'suppressed') return h.counter(m.name, m.value);
        return;
      case 'helper-error':
        return h.helperError(m.helper, m.retcode);
      case 'diagnostic':
        // After a diagnostic header (and its "Additional Info" line) comes our
        // program's source line, echoed, then the carets under it.
        this.echoExpected = m.header;
        return;
      case 'lost':
        return h.lost(m.count);
      case 'undecodable':
        if (this.echoExpected) {
          this.echoExpected = false;
          return;
        }
        return h.undecodable(m.line, m.why);
      default:
        return;
    }
  }
}
