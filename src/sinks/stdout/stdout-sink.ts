// NDJSON on stdout (`run --json`, `pcap --json`; run's default when no other
// sink is configured).
import type { EcsRecord } from '../../record/ecs.js';
import type { Sink, SinkDefinition } from '../sink.js';
import { StdoutWriter } from '../../platform/stdout-writer.js';
import { JSON_OUTPUT } from '../../config/options.js';

export class StdoutJsonSink implements Sink {
  readonly name = 'stdout';
  private n = 0;
  constructor(private readonly writer: { write(line: string): void; close(): Promise<void>; readonly dropped?: number }) {}
  write(r: EcsRecord): void {
    this.n++;
    this.writer.write(JSON.stringify(r));
  }
  async flush(): Promise<void> {}
  close(): Promise<void> {
    return this.writer.close();
  }
  stats(): Record<string, number> {
    // Lines the writer could not deliver (reader gone) are dropped, not written.
    const dropped = this.writer.dropped ?? 0;
    return dropped ? { written: this.n - dropped, dropped } : { written: this.n };
  }
}

export const stdoutSink: SinkDefinition = {
  name: 'stdout',
  options: [JSON_OUTPUT],
  enabled: (cfg) => cfg.json === true,
  open: async (_cfg, ctx) => new StdoutJsonSink(new StdoutWriter(ctx.stdout)),
};
