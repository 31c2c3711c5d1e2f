// droptrace counters: the kernel's loss counters per network namespace as
// rates against their own baselines, storms flagged, each explained in one
// line. A live table on a terminal; --json prints droptrace.counters records.
import type { Argv } from 'yargs';
import { hostname } from 'node:os';
import { UsageError, EnvironmentError } from '../../errors.js';
import { durationMs, untilStopped } from '../common-options.js';
import { Tools } from '../../diagnose/exec/tools.js';
import { CounterWatch } from '../../diagnose/counters/watch.js';
import { rankRows, type CounterRow } from '../../diagnose/counters/rates.js';
import { counterRecord } from '../../diagnose/counters/records.js';
import { renderCounterTable } from '../../diagnose/counters/table.js';
import { CATALOG } from '../../diagnose/counters/catalog.js';
import { loadBaselines } from '../../diagnose/counters/baselines.js';
import { resolveNetnsArgs } from '../../diagnose/netns/select.js';
import { writeReadyFile } from '../../session/ready-file.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../text/escape.js';

export function builder(y: Argv) {
  return y
    .option('interval', { type: 'number', default: 1, describe: 'Seconds between samples' })
    .option('duration', { type: 'number', describe: 'Stop after SECONDS' })
    .option('netns', { type: 'string', array: true, requiresArg: true, describe: 'Only this namespace: inode or /run/netns name (repeatable)' })
    .option('counter', { type: 'string', array: true, requiresArg: true, describe: 'Only counters whose name contains this text, or matches a glob like TcpExt.Listen* (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'One droptrace.counters record per moved counter per sample on stdout' })
    .option('all', { type: 'boolean', default: false, describe: 'Also counters that did not move' })
    .option('storms', { type: 'boolean', default: false, describe: 'Only counters in a storm' })
    .option('ethtool', { type: 'boolean', default: true, describe: 'Read NIC driver counters (ethtool -S) of physical interfaces' })
    .option('state-dir', { type: 'string', describe: 'Use the counter baselines `droptrace run` keeps here' })
    .option('ready-file', { type: 'string', describe: 'Write this file once the first sample is taken' })
    .option('list', { type: 'boolean', default: false, describe: 'Print the watched counters, their storm floors and meanings, and exit' })
    .option('host-name', { type: 'string', describe: 'host.name in records' })
    .example('$0 --netns web1', 'one namespace, live')
    .example('$0 --json --counter PAWS --duration 10', 'PAWS counters as records for 10 s');
}

interface Args {
  interval: number;
  duration?: number;
  netns?: string[];
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

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as Args;
  if (a.list) {
    for (const [name, info] of CATALOG) process.stdout.write(`${name.padEnd(34)} ${String(info.floor).padStart(6)}/s  ${(info.cause ?? '').padEnd(24)} ${info.meaning}\n`);
    return;
  }
  if (!(a.interval >= 0.2 && a.interval <= 3600)) throw new UsageError(`--interval must be from 0.2 to 3600 seconds, got ${a.interval}`);
  const ms = durationMs(a);
  if ((process.getuid?.() ?? 0) !== 0) throw new EnvironmentError('droptrace counters must run as root (it enters other network namespaces)', 'Run it with sudo.');
  const only = resolveNetnsArgs(a.netns, 'netns');
  const keep = counterFilter(a.counter);
  const host = a['host-name'] ?? hostname();
  const stored = a['state-dir'] ? loadBaselines(a['state-dir']) : undefined;
  const watch = new CounterWatch({ tools: new Tools(), only, ethtool: a.ethtool, baselines: stored?.entries, allRows: a.all });
  const out = new StdoutWriter(process.stdout);
  const tty = process.stdout.isTTY === true && !a.json;
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
    const cols = process.stdout.columns || 160;
    const body = renderCounterTable(rows, cols, tty ? Math.max(1, (process.stdout.rows || 24) - 3) : 50);
    const title = `droptrace counters — ${new Date(at).toISOString().slice(11, 19)}  ${watch.pool.list().length} namespaces  every ${a.interval} s`;
    if (tty) process.stdout.write('\x1b[H' + [title, ...body].map((l) => l + '\x1b[K').join('\n') + '\x1b[J');
    else out.write([title, ...body].join('\n') + '\n');
  };
  const loop = (async () => {
    let next = Date.now();
    while (!stop) {
      const t = await watch.tick();
      if (!firstDone) {
        firstDone = true;
        const unreadable = t.snapshots.filter((s) => s.unreadable);
        for (const s of unreadable) process.stderr.write(`droptrace: warning: netns ${s.inode}: ${escapeForTerminal(s.unreadable!)}\n`);
        if (watch.pool.skipped) process.stderr.write(`droptrace: warning: ${watch.pool.skipped} namespaces not watched (limit)\n`);
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
  if (tty) process.stdout.write('\x1b[?1049h\x1b[?25l');
  try {
    await untilStopped(ms, loop);
  } finally {
    stop = true;
    wake();
    await loop.catch(() => undefined);
    if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
    watch.close();
    await out.close();
  }
}
