// `droptrace doctor`, start to report: tracing (the same in-kernel flow
// windows as `run`, 1 s each), the namespaces' counters every second, rule
// counter snapshots at both ends of the window, then the rules. Timeline:
//   helpers start → bpftrace compiles while rules are snapshotted → attached:
//   first counter sample, ready file → window → at its end bpftrace stops
//   (last window flushed) while the last counter sample and rule snapshots
//   are taken → diagnose (configuration read on demand) → findings.
import type { Writable } from 'node:stream';
import { hostname } from 'node:os';
import { DroptraceError } from '../errors.js';
import { findingRecord, severityRank, type Severity } from '../diagnose/doctor/finding.js';
import { renderFindings } from '../diagnose/doctor/render.js';
import { resolveNetnsArgs } from '../diagnose/netns/select.js';
import { loadBaselines } from '../diagnose/counters/baselines.js';
import { StdoutWriter } from '../platform/stdout-writer.js';
import { escapeForTerminal } from '../text/escape.js';
import { rawFiltersFrom, useColor, type TracerOptions } from './options.js';
import { TraceSession } from './trace-session.js';
import type { RawFilters } from '../filters/filters.js';
import { writeReadyFile } from './ready-file.js';
import { Tools, TOOL_PURPOSE, type ToolName } from '../diagnose/exec/tools.js';
import { CounterWatch } from '../diagnose/counters/watch.js';
import type { Baseline } from '../diagnose/counters/rates.js';
import { Observation } from '../diagnose/doctor/observe.js';
import { diagnose } from '../diagnose/doctor/diagnose.js';
import { snapshotRuleset, type RulesetSnapshot } from '../diagnose/netfilter/snapshot.js';
import type { QdiscInfo } from '../diagnose/counters/parse.js';
import type { Finding } from '../diagnose/doctor/finding.js';
import type { Tick } from '../diagnose/counters/watch.js';

export interface DoctorOptions {
  durationMs: number;
  bpftrace?: string;
  filters: RawFilters;
  /** Namespaces to read counters/config from (--filter-netns); all when empty. */
  only: ReadonlySet<number>;
  readyFile?: string;
  hostName: string;
  baselines?: ReadonlyMap<string, Baseline>;
  tools?: Tools;
  maxNamespaces?: number;
  onWarning?: (m: string) => void;
  /** Called when the window starts (tests, progress). */
  onReady?: () => void;
}

export interface DoctorResult {
  findings: Finding[];
  obs: Observation;
  namespaces: number;
  signals: string[];
  /** ms from the end of the window to the findings. */
  reportMs: number;
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorResult> {
  const tools = o.tools ?? new Tools();
  const notChecked = new Map<string, Set<string>>();
  for (const t of tools.missing) notChecked.set(t, new Set([TOOL_PURPOSE[t as ToolName]]));
  const obs = new Observation();
  const watch = new CounterWatch({ tools, only: o.only, ethtool: true, baselines: o.baselines, rescanMs: 60_000, maxNamespaces: o.maxNamespaces });
  const session = new TraceSession({
    bpftrace: o.bpftrace,
    filters: o.filters,
    hostName: o.hostName,
    stream: null,
    aggregate: { intervalS: 1, maxFlows: 16384, collectorMaxFlows: 20_000, idleTimeoutS: 3600 },
    onRecord: (r) => {
      // Namespaces beyond what the tracer can filter on are filtered here.
      if (o.only.size > 0 && r.event.dataset === 'droptrace.flows' && !o.only.has(Number((r.droptrace as { netns?: { inode?: number } }).netns?.inode))) return;
      obs.add(r);
    },
    onWarning: o.onWarning,
  });
  const rulesBefore = new Map<number, RulesetSnapshot>();
  const rulesAfter = new Map<number, RulesetSnapshot>();
  const noteTool = (t: ToolName, what: string) => {
    let s = notChecked.get(t);
    if (!s) notChecked.set(t, (s = new Set()));
    s.add(what);
  };
  try {
    // Helpers first (they are the way into each namespace), then bpftrace
    // compiles while the rule counters are snapshotted.
    await watch.pool.sync();
    const snaps = Promise.all(watch.pool.list().map(async (a) => {
      if (!a.procNet()) return;
      rulesBefore.set(a.netns.inode, await snapshotRuleset(a, tools, noteTool));
    }));
    await session.start();
    await snaps;
    const ticks: Tick[] = [await watch.tick()];
    obs.startMs = ticks[0].at;
    if (o.readyFile) writeReadyFile(o.readyFile, { pid: process.pid, bpftracePid: session.bpftracePid, namespaces: watch.pool.list().map((a) => a.netns.inode), signals: session.included.map((s) => s.signal) });
    o.onReady?.();
    // One counter sample per second: peak rates for storms.
    const end = obs.startMs + o.durationMs;
    let stopped = false;
    const wait = session.wait().then(() => (stopped = true), () => (stopped = true));
    void wait;
    while (!stopped) {
      const left = end - Date.now();
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, Math.min(1000, left)));
      if (Date.now() < end - 50) {
        const t = await watch.tick();
        obs.addCounters(t.rows);
        ticks.push(t);
      }
    }
    const stopAt = Date.now();
    // The window ends now: stop tracing (its last window is flushed) while the
    // closing counter sample and rule snapshots are taken.
    const ntfNs = () => new Set([...obs.drops.values()].filter((g) => g.reason === 'NETFILTER_DROP').map((g) => g.netns));
    const seen = ntfNs();
    const snapAfter = (inodes: Iterable<number>) => Promise.all([...inodes].map(async (ino) => {
      const a = watch.pool.get(ino);
      if (a && !rulesAfter.has(ino)) rulesAfter.set(ino, await snapshotRuleset(a, tools, noteTool));
    }));
    const [last] = await Promise.all([watch.tick(), session.stop().then(() => session.finishFlows()), snapAfter(seen)]);
    obs.addCounters(last.rows);
    ticks.push(last);
    obs.endMs = last.at;
    // NETFILTER_DROP first seen in the final window.
    await snapAfter([...ntfNs()].filter((x) => !seen.has(x)));
    const qdiscs = new Map<number, QdiscInfo[]>();
    for (const s of last.snapshots) if (s.qdiscs) qdiscs.set(s.inode, s.qdiscs);
    for (const s of last.snapshots) if (s.conntrackEntries !== undefined) obs.conntrackEntries.set(s.inode, s.conntrackEntries);
    const unreadable = new Map<number, string>();
    for (const s of last.snapshots) if (s.unreadable) unreadable.set(s.inode, s.unreadable);
    // Signals the kernel/bpftrace do not offer, or that failed to start ("inferred" TLPs lose nothing here).
    const included = new Set(session.included.map((s) => s.signal));
    const untraced = session.capabilities.signals
      .filter((s) => s.variant === 'unavailable' || (s.files.length > 0 && !included.has(s.signal) && s.signal !== 'flow-ends'))
      .map((s) => `${s.signal}: ${s.variant === 'unavailable' ? s.detail : 'failed to start'}`);
    const findings = await diagnose({
      obs, pool: watch.pool, tools, rulesBefore, rulesAfter, qdiscs, notChecked, unreadable, untraced,
      softnetWorstCpu: ticks.map((t) => t.softnetWorstCpu).filter(Boolean).pop(),
      hostWideStandalone: o.only.size === 0,
    });
    return { findings, obs, namespaces: watch.pool.list().length, signals: session.included.map((s) => `${s.signal} (${s.variant})`), reportMs: Date.now() - stopAt };
  } finally {
    watch.close();
    await session.stop().catch(() => undefined);
  }
}

export interface DoctorCommandOptions extends TracerOptions {
  duration: number;
  json: boolean;
  'fail-on'?: string;
  'state-dir': string;
  'max-namespaces': number;
  'host-name'?: string;
  color?: boolean;
}

export class FindingsAtOrAbove extends DroptraceError {
  constructor(n: number, sev: string) {
    super(`${n} finding(s) at or above ${sev}`, { exitCode: 6 });
  }
}

/** Observe for --duration, then print the findings (text or records); throws FindingsAtOrAbove for --fail-on. */
export async function doctorReport(a: DoctorCommandOptions, deps: { stdout?: Writable & { isTTY?: boolean }; stderr?: Writable } = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  // --filter-netns takes names too here: resolve them to inodes for both the
  // tracer and the counters. The tracer's predicate takes at most 64; beyond
  // that the observation keeps only these namespaces' records instead.
  const only = resolveNetnsArgs(a['filter-netns'], 'filter-netns');
  const filters = { ...rawFiltersFrom(a), netns: only.size && only.size <= 64 ? [...only].map(String) : undefined };
  const host = a['host-name'] ?? hostname();
  const log = (m: string) => stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  const stored = loadBaselines(a['state-dir']);
  const res = await runDoctor({
    durationMs: a.duration * 1000, bpftrace: a.bpftrace, filters, only, readyFile: a['ready-file'], hostName: host,
    baselines: stored?.entries, maxNamespaces: a['max-namespaces'],
    onWarning: (m) => log(`warning: ${m}`),
    onReady: () => { if (!a.json) log(`observing for ${a.duration} s …`); },
  });
  const meta = { host, startMs: res.obs.startMs, endMs: res.obs.endMs, windowS: res.obs.seconds };
  if (a.json) {
    const w = new StdoutWriter(stdout);
    for (const f of res.findings) w.write(JSON.stringify(findingRecord(f, meta)));
    await w.close();
  } else {
    const color = useColor(a.color, stdout);
    const header = `droptrace doctor — ${res.obs.seconds.toFixed(1)} s, ${res.namespaces} namespaces, ${res.findings.filter((f) => !f.noise && f.severity !== 'info').length} findings${stored ? ' (counter baselines from run)' : ''}; traced: ${res.signals.join(', ')}`;
    stdout.write(renderFindings(res.findings, header, { color }));
  }
  log(`report ready ${res.reportMs} ms after the window`);
  const fail = a['fail-on'] as Severity | undefined;
  if (fail) {
    const hits = res.findings.filter((f) => severityRank(f.severity) >= severityRank(fail));
    if (hits.length) throw new FindingsAtOrAbove(hits.length, fail);
  }
}
