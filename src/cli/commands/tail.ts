// droptrace tail: live events, one readable line each, or ECS JSON (--json).
import type { Argv } from 'yargs';
import { withTracerOptions, rawFiltersFrom, durationMs, bpftraceFrom, untilStopped, type TracerArgs } from '../common-options.js';
import { TraceSession } from '../../session/trace-session.js';
import { formatRecord } from '../../sinks/terminal/format.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../sinks/terminal/escape.js';
import { UsageError } from '../../errors.js';

export function builder(y: Argv) {
  return withTracerOptions(y)
    .option('json', { type: 'boolean', default: false, describe: 'Print one ECS JSON record per line' })
    .option('rate-limit', { type: 'number', default: 10000, describe: 'At most N events/s leave the kernel (0 = unlimited); the rest are counted as suppressed' })
    .option('kernel-stack', { type: 'boolean', default: false, describe: 'Show the kernel stack of each drop (costlier: one stack walk per event)' })
    .option('color', { type: 'boolean', describe: 'Force colours on/off (default: on for a TTY unless NO_COLOR is set)' })
    .example('$0 --filter-port 443', 'drops and retransmits on port 443')
    .example('$0 --json --duration 10 > drops.ndjson', 'ten seconds of ECS records');
}

interface TailArgs extends TracerArgs {
  json: boolean;
  'rate-limit': number;
  'kernel-stack': boolean;
  color?: boolean;
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as TailArgs;
  const ms = durationMs(a);
  const rate = a['rate-limit'];
  if (!Number.isInteger(rate) || rate < 0 || rate > 10_000_000) throw new UsageError(`--rate-limit must be an integer from 0 to 10000000 events/s, got ${rate}`);
  const out = new StdoutWriter(process.stdout);
  const color = a.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const session = new TraceSession({
    bpftrace: bpftraceFrom(a),
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    onRecord: (r) => out.write(a.json ? JSON.stringify(r) : formatRecord(r, { color })),
    stream: { ratePerSec: rate },
    kernelStack: a['kernel-stack'],
    onWarning: (m) => process.stderr.write(`droptrace: warning: ${escapeForTerminal(m)}\n`),
  });
  await session.start();
  process.stderr.write(`droptrace: tracing ${session.included.map((s) => `${s.signal} (${s.variant})`).join(', ')}; Ctrl-C to stop\n`);
  try {
    await untilStopped(ms, session.wait());
  } finally {
    await session.stop();
    await out.close();
    const s = session.stats;
    process.stderr.write(`droptrace: ${s.events} events, ${s.lost} lost, ${s.kernelMissed} skipped by the kernel (BPF recursion), ${s.suppressed} suppressed by --rate-limit, ${s.undecodable} undecodable lines, ${s.restarts} restarts\n`);
  }
}
