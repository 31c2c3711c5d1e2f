// Fan records out to every configured sink. One sink failing on a record
// never affects the others; each sink keeps its own counted outcome.
import type { EcsRecord } from '../../record/ecs.js';
import type { Sink } from '../sink.js';

export class SinkSet {
  records = 0;
  private readonly failures = new Map<string, number>();

  constructor(readonly sinks: Sink[], private readonly onError: (sink: string, e: unknown) => void = () => undefined) {}

  write(r: EcsRecord): void {
    this.records++;
    for (const s of this.sinks) {
      try {
        s.write(r);
      } catch (e) {
        this.failures.set(s.name, (this.failures.get(s.name) ?? 0) + 1);
        this.onError(s.name, e);
      }
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => this.guarded(s, () => s.flush())));
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => this.guarded(s, () => s.close())));
  }

  /** A sink that throws synchronously (instead of rejecting) must not stop the others' flush/close. */
  private async guarded(s: Sink, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      this.onError(s.name, e);
    }
  }

  stats(): Record<string, Record<string, number>> {
    return Object.fromEntries(this.sinks.map((s) => [s.name, { ...s.stats(), ...(this.failures.get(s.name) ? { write_failures: this.failures.get(s.name)! } : {}) }]));
  }
}
