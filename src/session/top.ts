// `droptrace top`: 1-second (--interval) in-kernel flow windows into the top
// view (src/views/top): flows, reasons and kernel locations losing the most
// packets, and roll-ups of floods.
import type { Readable } from 'node:stream';
import { TraceSession } from './trace-session.js';
import { untilStopped } from './until-stopped.js';
import { durationMs, rawFiltersFrom, useColor, type CommandDeps, type TracerOptions } from './options.js';
import { stderrConsole } from './console.js';
import { TopState, type View } from '../views/top/top-state.js';
import { TopScreen } from '../views/top/screen.js';

export interface TopOptions extends TracerOptions {
  interval: number;
  'max-flows': number;
  color?: boolean;
  view: string;
}

export interface TopDeps extends CommandDeps {
  stdin?: Readable & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
  /** How often the screen is redrawn (ms). */
  redrawMs?: number;
}

export async function runTop(a: TopOptions, deps: TopDeps = {}): Promise<void> {
  const out = deps.stdout ?? process.stdout;
  const stdin = deps.stdin ?? process.stdin;
  const con = stderrConsole(deps.stderr ?? process.stderr, { timer: false });
  const state = new TopState();
  const screen = new TopScreen(out, useColor(a.color, out), a.view as View);
  const warnings: string[] = [];
  const session = new TraceSession({
    bpftrace: a.bpftrace,
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    uid: deps.uid,
    stream: null,
    aggregate: { intervalS: a.interval, maxFlows: a['max-flows'], collectorMaxFlows: 2000, idleTimeoutS: 3600 },
    onRecord: (r) => {
      if (r.event.action === 'events-lost') state.lost += Number((r.droptrace as { lost?: { count?: number } }).lost?.count ?? 0);
      state.add(r);
    },
    onWarning: (m) => warnings.push(m),
    deps: deps.session,
  });
  await session.start();

  const draw = () => {
    state.suppressed = session.stats.suppressed;
    state.kernelMissed = session.stats.kernelMissed;
    state.unattributed = session.stats.unattributed;
    screen.draw(state, `${session.included.map((s) => s.signal).join(', ')}${warnings.length ? `  (${warnings.length} warnings)` : ''}`);
  };
  let quit: () => void = () => undefined;
  const quitting = new Promise<string>((resolve) => (quit = () => resolve('q')));
  const onKey = (buf: Buffer) => {
    if (screen.keys(buf.toString('utf8'))) draw();
    if (screen.quit) quit();
  };
  screen.open();
  if (stdin.isTTY) stdin.setRawMode?.(true);
  stdin.on('data', onKey);
  stdin.resume();
  const timer = setInterval(draw, deps.redrawMs ?? 250);
  // The kernel's skip counters are read from fdinfo: once a second is enough.
  const missTimer = setInterval(() => session.updateKernelMissed(), 1000);
  draw();
  try {
    await Promise.race([untilStopped(durationMs(a), session.wait(), { onReason: (m) => warnings.push(m), ...deps.stop }), quitting]);
  } finally {
    clearInterval(timer);
    clearInterval(missTimer);
    stdin.off('data', onKey);
    if (stdin.isTTY) stdin.setRawMode?.(false);
    stdin.pause();
    await session.stop();
    screen.close();
    for (const w of warnings.slice(0, 20)) con.info(`warning: ${w}`);
    const s = session.stats;
    con.info(`${s.windows} windows, ${s.flowRecords} flow records, ${s.lost} lost, ${s.kernelMissed} skipped by the kernel, ${s.unattributed} unattributed, ${s.restarts} restarts`);
    con.close();
  }
}
