// --kernel-stack: a streamed drop is followed by its stack frames (one
// "\t<hex> <sym>+<off>" line each, then a stack-end marker). The record waits
// for them, then carries droptrace.drop.stack symbolized by our own kallsyms.
import type { EcsRecord } from '../record/ecs.js';

/** Kernel address → where it is (src/enrich: Enricher.symbolize). */
export type Symbolize = (hexAddress: string) => { address: string; symbol?: string; offset?: number; module?: string };

/** At most this many frames per stack are kept. */
const MAX_FRAMES = 64;

export class KernelStacks {
  private pending: { rec: EcsRecord; frames: string[] } | null = null;

  constructor(private readonly symbolize: Symbolize, private readonly emit: (r: EcsRecord) => void) {}

  /** A drop whose stack follows. Emits any record still waiting first. */
  expect(rec: EcsRecord): void {
    this.flush();
    this.pending = { rec, frames: [] };
  }

  frame(address: string): void {
    if (this.pending && this.pending.frames.length < MAX_FRAMES) this.pending.frames.push(address);
  }

  /** Emit the drop waiting for its stack, with whatever frames arrived. */
  flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    const drop = (p.rec.droptrace as Record<string, any>).drop;
    if (drop) {
      const locs = p.frames.map((a) => this.symbolize(a));
      // A raw tracepoint's stack starts in our BPF program and the
      // bpf_trace_run* trampoline: cut everything up to and including it.
      const tramp = locs.map((l) => /^(bpf_trace_run\d|__bpf_trace_)/.test(l.symbol ?? '')).lastIndexOf(true);
      drop.stack = locs.slice(tramp + 1).map((l) => (l.symbol ? `${l.symbol}+0x${(l.offset ?? 0).toString(16)}${l.module ? ` [${l.module}]` : ''}` : l.address));
    }
    this.emit(p.rec);
  }
}
