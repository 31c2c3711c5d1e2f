// `droptrace tail`: live events, one readable line each (src/views/tail-line.ts)
// or ECS JSON.
import { TraceSession } from './trace-session.js';
import { untilStopped } from './until-stopped.js';
import { durationMs, rawFiltersFrom, useColor, type CommandDeps, type TracerOptions } from './options.js';
import { stderrConsole } from './console.js';
import { formatRecord } from '../views/tail-line.js';
import { StdoutWriter } from '../platform/stdout-writer.js';

export interface TailOptions extends TracerOptions {
  json: boolean;
  'rate-limit': number;
  'kernel-stack': boolean;
  color?: boolean;
}

export type TailDeps = CommandDeps;

export async function runTail(a: TailOptions, deps: TailDeps = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const con = stderrConsole(deps.stderr ?? process.stderr, { timer: false });
  const out = new StdoutWriter(stdout);
  const color = useColor(a.color, stdout);
  const session = new TraceSession({
    bpftrace: a.bpftrace,
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    uid: deps.uid,
    onRecord: (r) => out.write(a.json ? JSON.stringify(r) : formatRecord(r, { color })),
    stream: { ratePerSec: a['rate-limit'] },
    kernelStack: a['kernel-stack'],
    onWarning: (m) => con.info(`warning: ${m}`),
    deps: deps.session,
  });
  try {
    await session.start();
    con.info(`tracing ${session.included.map((s) => `${s.signal} (${s.variant})`).join(', ')}; Ctrl-C to stop`);
    try {
      await untilStopped(durationMs(a), session.wait(), { onReason: con.info, ...deps.stop });
    } finally {
      await session.stop();
      await out.close();
      const s = session.stats;
      con.info(`${s.events} events, ${s.lost} lost, ${s.kernelMissed} skipped by the kernel (BPF recursion), ${s.suppressed} suppressed by --rate-limit, ${s.undecodable} undecodable lines, ${s.restarts} restarts`);
    }
  } finally {
    con.close();
  }
}
