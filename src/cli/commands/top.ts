// droptrace top: a live full-screen view of the flows, reasons and kernel
// locations losing the most packets, from 1-second in-kernel flow windows.
// Keys: f/r/l switch view (flows, reasons, locations), v/o/p the roll-ups of
// floods (destination services, source addresses, source prefixes, each with
// its distinct-flow count), s cycles the sort column, q (or Ctrl-C) quits.
import type { Argv } from 'yargs';
import { withTracerOptions, rawFiltersFrom, durationMs, bpftraceFrom, untilStopped, type TracerArgs } from '../common-options.js';
import { TraceSession } from '../../session/trace-session.js';
import { TopState, SORT_KEYS, type View, type SortKey } from '../../sinks/top/top-state.js';
import { renderTop } from '../../sinks/top/render.js';
import { redact } from '../../text/redact.js';
import { escapeForTerminal } from '../../text/escape.js';
import { UsageError } from '../../errors.js';

export function builder(y: Argv) {
  return withTracerOptions(y)
    .option('max-flows', { type: 'number', default: 16384, describe: 'Distinct flows counted per window in the kernel; the rest are summed as overflow' })
    .option('refresh', { type: 'number', default: 1, describe: 'Seconds per refresh (and per in-kernel window)' })
    .option('color', { type: 'boolean', describe: 'Force colours on/off (default: on for a TTY unless NO_COLOR is set)' })
    .option('view', { type: 'string', choices: ['flows', 'reasons', 'locations', 'services', 'sources', 'prefixes'], default: 'flows', describe: 'View to start in' })
    .example('$0 --filter-port 443', 'who loses packets on port 443');
}

interface TopArgs extends TracerArgs {
  view: View;
  'max-flows': number;
  refresh: number;
  color?: boolean;
}

const KEY_VIEWS: Record<string, View> = { f: 'flows', r: 'reasons', l: 'locations', v: 'services', o: 'sources', p: 'prefixes' };

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as TopArgs;
  const ms = durationMs(a);
  if (!Number.isInteger(a['max-flows']) || a['max-flows'] < 1 || a['max-flows'] > 1_000_000) throw new UsageError(`--max-flows must be an integer from 1 to 1000000, got ${a['max-flows']}`);
  if (!(a.refresh >= 1 && a.refresh <= 60 && Number.isInteger(a.refresh))) throw new UsageError(`--refresh must be a whole number of seconds from 1 to 60, got ${a.refresh}`);
  const out = process.stdout;
  const color = a.color ?? (out.isTTY === true && !process.env.NO_COLOR);
  const state = new TopState();
  let view: View = a.view;
  let sort: SortKey = 'total';
  const warnings: string[] = [];
  const session = new TraceSession({
    bpftrace: bpftraceFrom(a),
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    stream: null,
    aggregate: { intervalS: a.refresh, maxFlows: a['max-flows'], collectorMaxFlows: 2000, idleTimeoutS: 3600 },
    onRecord: (r) => {
      if (r.event.action === 'events-lost') state.lost += Number((r.droptrace as any).lost?.count ?? 0);
      state.add(r);
    },
    onWarning: (m) => warnings.push(m),
  });
  await session.start();

  const screen = () => ({ rows: out.rows || 24, cols: out.columns || 100, color });
  const draw = () => {
    state.suppressed = session.stats.suppressed;
    state.kernelMissed = session.stats.kernelMissed;
    state.unattributed = session.stats.unattributed;
    const status = `${session.included.map((s) => s.signal).join(', ')}${warnings.length ? `  (${warnings.length} warnings)` : ''}`;
    const lines = renderTop(state, view, sort, screen(), status);
    // Home, draw, clear to end of screen: no flicker, no scrollback spam.
    out.write('\x1b[H' + lines.map((l) => l + '\x1b[K').join('\n') + '\x1b[J');
  };
  out.write('\x1b[?1049h\x1b[?25l');
  const restore = () => out.write('\x1b[?25h\x1b[?1049l');
  let quit: () => void = () => undefined;
  const quitting = new Promise<string>((resolve) => (quit = () => resolve('q')));
  const onKey = (buf: Buffer) => {
    for (const ch of buf.toString('utf8')) {
      if (ch === 'q' || ch === '\x03') quit();
      else if (KEY_VIEWS[ch]) view = KEY_VIEWS[ch];
      else if (ch === 's') sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length];
      else continue;
      draw();
    }
  };
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKey);
  stdin.resume();
  const timer = setInterval(draw, 250);
  // The kernel's skip counters are read from fdinfo: once a second is enough.
  const missTimer = setInterval(() => session.updateKernelMissed(), 1000);
  draw();
  try {
    await Promise.race([untilStopped(ms, session.wait(), { onReason: (m) => warnings.push(m) }), quitting]);
  } finally {
    clearInterval(timer);
    clearInterval(missTimer);
    stdin.off('data', onKey);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    await session.stop();
    restore();
    for (const w of warnings.slice(0, 20)) process.stderr.write(`droptrace: warning: ${escapeForTerminal(redact(w))}\n`);
    const s = session.stats;
    process.stderr.write(`droptrace: ${s.windows} windows, ${s.flowRecords} flow records, ${s.lost} lost, ${s.kernelMissed} skipped by the kernel, ${s.unattributed} unattributed, ${s.restarts} restarts\n`);
  }
}
