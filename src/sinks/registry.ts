// Every sink droptrace can write records to, in the order they are opened.
// A sink declares its options and how it is opened (./sink.ts); the commands
// that write records (run, pcap) take every sink's options from here, and the
// session opens the ones a configuration asks for. Adding a sink is a folder
// here and one line in this list.
import type { OptionSpec } from '../config/index.js';
import type { Sink, SinkConfig, SinkContext, SinkDefinition, SinkDirectory } from './sink.js';
import { stdoutSink } from './stdout/stdout-sink.js';
import { fileSink } from './file/options.js';
import { elasticsearchSink } from './elasticsearch/definition.js';

export const SINKS: readonly SinkDefinition[] = [fileSink, elasticsearchSink, stdoutSink];

/** The options of every sink, each once (in registry order). */
export function sinkOptions(sinks: readonly SinkDefinition[] = SINKS): OptionSpec[] {
  const seen = new Set<string>();
  return sinks.flatMap((s) => s.options).filter((o) => !seen.has(o.name) && !!seen.add(o.name));
}

/** The sinks this configuration asks for. */
export function enabledSinks(cfg: SinkConfig, sinks: readonly SinkDefinition[] = SINKS): SinkDefinition[] {
  return sinks.filter((s) => s.enabled(cfg));
}

/** The directories the enabled sinks write into. */
export function sinkDirectories(defs: readonly SinkDefinition[], cfg: SinkConfig): SinkDirectory[] {
  return defs.flatMap((d) => d.directories?.(cfg) ?? []);
}

/** Open them in order; if one cannot be used, the ones already open are closed and its error thrown. */
export async function openSinks(defs: readonly SinkDefinition[], cfg: SinkConfig, ctx: SinkContext): Promise<Sink[]> {
  const out: Sink[] = [];
  try {
    for (const d of defs) out.push(await d.open(cfg, ctx));
  } catch (e) {
    await Promise.all(out.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
  return out;
}
