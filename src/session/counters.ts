// `droptrace counters`: the kernel's loss counters per network namespace as
// rates against their own baselines, storms flagged, each explained in one
// line. A live table on a terminal; --json prints droptrace.counters records.
import { hostname } from 'node:os';
import { EnvironmentError } from '../errors.js';
import { durationMs, type CommandDeps } from './options.js';
import { untilStopped } from './until-stopped.js';
import { Tools } from '../diagnose/exec/tools.js';
import { CounterWatch } from '../diagnose/counters/watch.js';
import { rankRows, type CounterRow } from '../diagnose/counters/rates.js';
import { counterRecord } from '../diagnose/counters/records.js';
import { renderCounterTable } from '../diagnose/counters/table.js';
import { CATALOG } from '../diagnose/counters/catalog.js';
import { loadBaselines } from '../diagnose/counters/baselines.js';
import { resolveNetnsArgs } from '../diagnose/netns/select.js';
import { writeReadyFile } from './ready-file.js';
import { StdoutWriter } from '../platform/stdout-writer.js';
import { escapeForTerminal } from '../text/escape.js';

export interface CountersOptions {
  interval: number;
  duration?: number;
  'filter-netns'?: string[];
  counter?: string[];
  json: boolean;
  all: boolean;
  storms: boolean;
  ethtool: boolean;
  'state-dir'?: string;
  'ready-file'?: string;
  list: boolean;
  'host-name'?: string;
}

export type CountersDeps = Omit<CommandDeps, 'session'>;

/** Counter-name filter: substring, or a glob with * and ?. */
export function counterFilter(patterns: string[] | undefined): (name: string) => boolean {
  const ps = (patterns ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
  if (ps.length === 0) return () => true;
  const tests = ps.map((p) => {
    if (!/[*?]/.test(p)) return (n: string) => n.toLowerCase().includes(p.toLowerCase());
    const re = new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
    return (n: string) => re.test(n);
  });
  return (n) => tests.some((t) => t(n));
}

export async function runCounters(a: CountersOptions, deps: CountersDeps = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  if (a.list) {
    for (const [name, info] of CATALOG) stdout.write(`${name.padEnd(34)} ${String(info.floor).padStart(6)}/s  ${(info.cause ?? '').padEnd(24)} ${info.meaning}\n`);
    return;
  }
  if ((deps.uid ?? process.getuid?.() ?? 0) !== 0) throw new EnvironmentError('droptrace counters must run as root (it enters other network namespaces)', 'Run it with sudo.');
  const only = resolveNetnsArgs(a['filter-netns'], 'filter-netns');
  const keep = counterFilter(a.counter);
  const host = a['host-name'] ?? hostname();
  const stored = a['state-dir'] ? loadBaselines(a['state-dir']) : undefined;
  const watch = new CounterWatch({ tools: new Tools(), only, ethtool: a.ethtool, baselines: stored?.entries, allRows: a.all });
  const out = new StdoutWriter(stdout);
  const tty = stdout.isTTY === true && !a.json;
  let stop = false;
  let wake: () => void = () => undefined;
  let firstDone = false;
  // The first sample only sets the values rates are taken from.
  let first = true;
  const show = (rows: CounterRow[], at: number) => {
    if (a.json) {
      for (const r of rows) out.write(JSON.stringify(counterRecord(r, host, at)));
      return;
    }
    const cols = stdout.columns || 160;
    const body = renderCounterTable(rows, cols, tty ? Math.max(1, (stdout.rows || 24) - 3) : 50);
    const title = `droptrace counters — ${new Date(at).toISOString().slice(11, 19)}  ${watch.pool.list().length} namespaces  every ${a.interval} s`;
    if (tty) stdout.write('\x1b[H' + [title, ...body].map((l) => l + '\x1b[K').join('\n') + '\x1b[J');
    else out.write([title, ...body].join('\n') + '\n');
  };
  const loop = (async () => {
    let next = Date.now();
    while (!stop) {
      const t = await watch.tick();
      if (!firstDone) {
        firstDone = true;
        const unreadable = t.snapshots.filter((s) => s.unreadable);
        for (const s of unreadable) stderr.write(`droptrace: warning: netns ${s.inode}: ${escapeForTerminal(s.unreadable!)}\n`);
        if (watch.pool.skipped) stderr.write(`droptrace: warning: ${watch.pool.skipped} namespaces not watched (limit)\n`);
        if (a['ready-file']) writeReadyFile(a['ready-file'], { pid: process.pid, namespaces: t.snapshots.map((s) => s.inode) });
      }
      const rows = rankRows(t.rows.filter((r) => keep(r.name) && (a.all || r.delta > 0 || r.storm) && (!a.storms || r.storm)));
      if (!first) show(rows, t.at);
      first = false;
      next += a.interval * 1000;
      const wait = next - Date.now();
      if (wait > 0 && !stop) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      } else next = Date.now();
    }
  })();
  if (tty) stdout.write('\x1b[?1049h\x1b[?25l');
  try {
    await untilStopped(durationMs(a), loop, deps.stop);
  } finally {
    stop = true;
    wake();
    await loop.catch(() => undefined);
    if (tty) stdout.write('\x1b[?25h\x1b[?1049l');
    watch.close();
    await out.close();
  }
}
