// Route records to one rotating NDJSON stream per kind: events (drops,
// retransmits, incoming loss), flows (window aggregates), stats (self-stats,
// coverage), counters and findings (diagnosis). Picked by `event.dataset`;
// unknown datasets go to `events`.
import type { EcsRecord } from '../../record/ecs.js';
import type { Sink } from '../sink.js';
import { RotatingFileSink, type RotatingFileOptions } from './rotating-file-sink.js';

export const DEFAULT_STREAMS: Readonly<Record<string, string>> = {
  'droptrace.drops': 'events',
  'droptrace.retransmits': 'events',
  'droptrace.flows': 'flows',
  'droptrace.stats': 'stats',
  'droptrace.counters': 'counters',
  'droptrace.findings': 'findings',
};
const FALLBACK_STREAM = 'events';

export interface FileSinksOptions extends Omit<RotatingFileOptions, 'baseName'> {
  /** dataset → base file name. Default DEFAULT_STREAMS. */
  streams?: Readonly<Record<string, string>>;
}

export class FileSinks implements Sink {
  readonly name = 'files';
  private readonly byBase = new Map<string, RotatingFileSink>();
  private readonly byDataset = new Map<string, RotatingFileSink>();
  private readonly fallback: RotatingFileSink;

  /** Opens every stream now, so an unusable directory fails at start, not at the first record. */
  constructor(o: FileSinksOptions) {
    const streams = o.streams ?? DEFAULT_STREAMS;
    const open = (base: string) => {
      let s = this.byBase.get(base);
      if (!s) {
        s = new RotatingFileSink({ ...o, baseName: base });
        this.byBase.set(base, s);
      }
      return s;
    };
    try {
      for (const [dataset, base] of Object.entries(streams)) this.byDataset.set(dataset, open(base));
      this.fallback = open(FALLBACK_STREAM);
    } catch (e) {
      for (const s of this.byBase.values()) void s.close();
      throw e;
    }
  }

  write(record: EcsRecord): void {
    (this.byDataset.get(record.event?.dataset) ?? this.fallback).write(record);
  }

  /** The stream for a base name (tests, diagnostics). */
  stream(base: string): RotatingFileSink | undefined {
    return this.byBase.get(base);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.byBase.values()].map((s) => s.flush()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.byBase.values()].map((s) => s.close()));
  }

  async compressionIdle(): Promise<void> {
    await Promise.all([...this.byBase.values()].map((s) => s.compressionIdle()));
  }

  /** Totals, plus `<base>_records` per stream. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [base, s] of this.byBase) {
      const st = s.stats();
      for (const [k, v] of Object.entries(st)) out[k] = (out[k] ?? 0) + v;
      out[`${base}_records`] = st.records;
    }
    return out;
  }
}
