// droptrace doctor: trace, sample counters and read configuration for
// --duration seconds, then print findings ranked by impact — cause, evidence,
// a command to check it, the fix with its caveat, the flows affected.
import type { Argv } from 'yargs';
import { hostname } from 'node:os';
import { withTracerOptions, rawFiltersFrom, bpftraceFrom, type TracerArgs } from '../common-options.js';
import { UsageError, DroptraceError } from '../../errors.js';
import { runDoctor } from '../../session/doctor.js';
import { findingRecord, SEVERITIES, severityRank, type Severity } from '../../diagnose/doctor/finding.js';
import { renderFindings } from '../../diagnose/doctor/render.js';
import { resolveNetnsArgs } from '../../diagnose/netns/select.js';
import { loadBaselines } from '../../diagnose/counters/baselines.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../text/escape.js';

export const DEFAULT_STATE_DIR = '/var/lib/droptrace/state';

export function builder(y: Argv) {
  return withTracerOptions(y)
    .option('duration', { type: 'number', default: 10, describe: 'Seconds to observe before reporting' })
    .option('filter-netns', { type: 'string', array: true, requiresArg: true, describe: 'Only this network namespace: inode or /run/netns name (repeatable); also limits the counters and configuration read' })
    .option('json', { type: 'boolean', default: false, describe: 'One droptrace.findings record per finding on stdout' })
    .option('fail-on', { type: 'string', choices: SEVERITIES, describe: 'Exit 6 when a finding at or above this severity exists (scripts, CI)' })
    .option('state-dir', { type: 'string', default: DEFAULT_STATE_DIR, describe: 'Counter baselines kept by `droptrace run` (used when fresh)' })
    .option('max-namespaces', { type: 'number', default: 1000, describe: 'Read counters/config of at most this many namespaces' })
    .option('host-name', { type: 'string', describe: 'host.name in records' })
    .option('color', { type: 'boolean', describe: 'Force colours on/off (default: on for a TTY unless NO_COLOR is set)' })
    .example('$0', 'observe 10 s, then explain every loss on this host')
    .example('$0 --filter-netns web1 --duration 30 --json', 'one namespace, findings as records')
    .example('$0 --fail-on high', 'exit 6 if anything high or critical is found');
}

interface Args extends TracerArgs {
  duration: number;
  json: boolean;
  'fail-on'?: Severity;
  'state-dir': string;
  'max-namespaces': number;
  'host-name'?: string;
  color?: boolean;
}

class FindingsAtOrAbove extends DroptraceError {
  constructor(n: number, sev: string) {
    super(`${n} finding(s) at or above ${sev}`, { exitCode: 6 });
  }
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as Args;
  if (!(Number.isFinite(a.duration) && a.duration >= 1 && a.duration <= 3600)) throw new UsageError(`--duration must be from 1 to 3600 seconds, got ${a.duration}`);
  if (!(Number.isInteger(a['max-namespaces']) && a['max-namespaces'] >= 1)) throw new UsageError(`--max-namespaces must be a positive integer, got ${a['max-namespaces']}`);
  // --filter-netns takes names too here: resolve them to inodes for both the
  // tracer and the counters. The tracer's predicate takes at most 64; beyond
  // that the observation keeps only these namespaces' records instead.
  const only = resolveNetnsArgs(a['filter-netns'], 'filter-netns');
  const filters = { ...rawFiltersFrom(a), netns: only.size && only.size <= 64 ? [...only].map(String) : undefined };
  const host = a['host-name'] ?? hostname();
  const log = (m: string) => process.stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  const stored = loadBaselines(a['state-dir']);
  const res = await runDoctor({
    durationMs: a.duration * 1000, bpftrace: bpftraceFrom(a), filters, only, readyFile: a['ready-file'], hostName: host,
    baselines: stored?.entries, maxNamespaces: a['max-namespaces'],
    onWarning: (m) => log(`warning: ${m}`),
    onReady: () => { if (!a.json) log(`observing for ${a.duration} s …`); },
  });
  const meta = { host, startMs: res.obs.startMs, endMs: res.obs.endMs, windowS: res.obs.seconds };
  if (a.json) {
    const w = new StdoutWriter(process.stdout);
    for (const f of res.findings) w.write(JSON.stringify(findingRecord(f, meta)));
    await w.close();
  } else {
    const color = a.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
    const header = `droptrace doctor — ${res.obs.seconds.toFixed(1)} s, ${res.namespaces} namespaces, ${res.findings.filter((f) => !f.noise && f.severity !== 'info').length} findings${stored ? ' (counter baselines from run)' : ''}; traced: ${res.signals.join(', ')}`;
    process.stdout.write(renderFindings(res.findings, header, { color }));
  }
  log(`report ready ${res.reportMs} ms after the window`);
  const fail = a['fail-on'];
  if (fail) {
    const hits = res.findings.filter((f) => severityRank(f.severity) >= severityRank(fail));
    if (hits.length) throw new FindingsAtOrAbove(hits.length, fail);
  }
}
