// `droptrace run`, the sidecar: every probe, in-kernel per-flow windows, the
// sinks the configuration asks for (src/sinks/registry.ts; NDJSON on stdout
// when none), periodic self-stats, kernel-counter reconciliation, and the
// diagnosis per window.
//   probes/*.bt → TraceSession (source → decode → enrich → aggregate) → SinkSet → sinks
import { hostname } from 'node:os';
import type { Writable } from 'node:stream';
import { TraceSession, type SessionDeps } from './trace-session.js';
import { stderrConsole } from './console.js';
import { lockSinkDirectories } from './sink-directories.js';
import { untilStopped, type StopOptions } from './until-stopped.js';
import { durationMs, rawFiltersFrom, type TracerOptions } from './options.js';
import { SinkSet } from '../sinks/fanout/sink-set.js';
import { SINKS, enabledSinks, openSinks, sinkDirectories } from '../sinks/registry.js';
import { stdoutSink } from '../sinks/stdout/stdout-sink.js';
import type { Sink, SinkDefinition } from '../sinks/sink.js';
import { Reconciler } from '../aggregate/reconcile.js';
import { readCountersViaNsenter, type CounterReader } from '../platform/procfs-counters.js';
import { findNetnsHandles } from '../enrich/interfaces.js';
import type { EcsRecord } from '../record/ecs.js';
import type { Lock } from '../platform/lock.js';
import { installLastResort } from '../platform/last-resort.js';
import { WindowDiagnoser } from '../diagnose/window/window-diagnoser.js';
import { resolveNetnsArgs } from '../diagnose/netns/select.js';

export interface RunOptions extends TracerOptions {
  'incoming-loss': boolean;
  'kernel-stack': boolean;
  events: boolean;
  'rate-limit': number;
  /** Deprecated (--events with --rate-limit N): N > 0 turns events on at N/s. */
  'stream-rate': number;
  'host-name'?: string;
  diagnose: boolean;
  'state-dir': string;
  interval: number;
  'max-flows': number;
  'kernel-map-keys': number;
  'collector-max-flows': number;
  'idle-timeout': number;
  'stats-interval': number;
  json?: boolean;
  /** Every sink's own options, by name. */
  readonly [sinkOption: string]: unknown;
}

export interface RunDeps {
  stdout?: Writable;
  stderr?: Writable;
  /** The sinks to choose from (default: the registry). */
  sinks?: readonly SinkDefinition[];
  session?: SessionDeps;
  readCounters?: CounterReader;
  /** Counters and findings per window (default: the real diagnosis; null: none). */
  diagnoser?: WindowDiagnoser | null;
  uid?: number;
  stop?: StopOptions;
  /** The last-resort handler (default: installed; tests pass a no-op). */
  lastResort?: typeof installLastResort;
}

/** Per-event records: --events at --rate-limit, or the deprecated --stream-rate N (N > 0). */
export function streamOf(o: Pick<RunOptions, 'events' | 'rate-limit' | 'stream-rate'>): { ratePerSec: number } | null {
  if (o['stream-rate'] > 0) return { ratePerSec: o['stream-rate'] };
  return o.events ? { ratePerSec: o['rate-limit'] } : null;
}

export async function runSidecar(a: RunOptions, deps: RunDeps = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const con = stderrConsole(deps.stderr ?? process.stderr);
  const { info, log } = con;
  const host = a['host-name'] ?? hostname();

  // Sinks first: an unusable output directory, a directory another run holds,
  // or a refused Elasticsearch (bad CA, fingerprint or credentials) fails
  // before any probe is loaded.
  const choice = enabledSinks(a, deps.sinks ?? SINKS);
  // NDJSON on stdout when nothing else is configured.
  if (choice.length === 0) choice.push(stdoutSink);
  let locks: Lock[] = [];
  let sinks: Sink[];
  try {
    locks = await lockSinkDirectories(sinkDirectories(choice, a), { command: 'run' });
    sinks = await openSinks(choice, a, { log, stdout });
  } catch (e) {
    for (const l of locks) l.release();
    con.close();
    throw e;
  }
  const set = new SinkSet(sinks, (name, e) => log(`sink ${name}: ${(e as Error).message}`));

  const handles = () => new Map(findNetnsHandles().map((h) => [h.inode, h.path]));
  let nsPaths = handles();
  const reconciler = new Reconciler({
    hostName: host,
    readCounters: deps.readCounters ?? readCountersViaNsenter,
    netnsPath: (ino) => nsPaths.get(ino) ?? (nsPaths = handles()).get(ino),
  });
  // The namespaces the user named: diagnosis follows only them, and their
  // counters are baselined before ready (coverage from the first window).
  const named = resolveNetnsArgs(a['filter-netns'], 'filter-netns');
  // Counters and findings per window (and rule.* on NETFILTER_DROP flow records).
  const diag = deps.diagnoser !== undefined ? deps.diagnoser : a.diagnose
    ? new WindowDiagnoser({ hostName: host, stateDir: a['state-dir'], only: named, write: (r) => set.write(r), log })
    : null;
  const emit = (r: EcsRecord) => {
    reconciler.observe(r);
    if (diag?.observe(r)) return;
    set.write(r);
  };
  // Counter baselines and rule snapshots are taken while bpftrace compiles;
  // the ready file waits for them. Not as non-root: the session refuses that first.
  const uid = deps.uid ?? process.getuid?.() ?? 0;
  const diagStart = diag && uid === 0 ? diag.start() : undefined;
  diagStart?.catch(() => undefined);
  // (Other namespaces are reconciled from their second window: see Reconciler.baseline.)
  const baselines = uid === 0 && named.size > 0 ? reconciler.baseline(named) : undefined;
  const startGate = diagStart || baselines ? Promise.all([diagStart, baselines]) : undefined;
  startGate?.catch(() => undefined);
  let pending: Promise<void> = Promise.resolve();
  const session = new TraceSession({
    bpftrace: a.bpftrace,
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    readyGate: startGate,
    hostName: host,
    uid,
    stream: streamOf(a),
    kernelStack: a['kernel-stack'],
    disabledSignals: a['incoming-loss'] ? [] : ['incoming-loss'],
    aggregate: { intervalS: a.interval, maxFlows: a['max-flows'], collectorMaxFlows: a['collector-max-flows'], idleTimeoutS: a['idle-timeout'], kernelMapKeys: a['kernel-map-keys'] },
    onRecord: emit,
    onWindowClosed: (w) => {
      pending = pending.then(async () => {
        await diag?.closeWindow(w);
        for (const r of await reconciler.closeWindow(w.startIso, w.endIso)) set.write(r);
      });
    },
    onWarning: (m) => log(`warning: ${m}`),
    deps: deps.session,
  });

  const selfStats = (final: boolean) => {
    const s = session.stats;
    const now = new Date().toISOString();
    const rec: EcsRecord = {
      '@timestamp': now,
      event: { kind: 'metric', category: ['network'], action: 'self-stats', dataset: 'droptrace.stats' },
      host: { name: host },
      droptrace: {
        id: `${host}-stats-${Date.parse(now)}-${process.pid}`,
        stats: {
          final,
          lines_in: s.lines, events_in: s.events, undecodable: s.undecodable, overlong_lines: s.overlong, lost: s.lost, suppressed: s.suppressed,
          windows: s.windows, flow_records: s.flowRecords, overflowed: s.overflowCount, restarts: s.restarts, gaps: s.gaps, stray_entries: s.strayEntries, kernel_missed: s.kernelMissed, kernel_missed_by_signal: s.kernelMissedBySignal, unattributed: s.unattributed, helper_errors: s.helperErrors, window_stalls: s.windowStalls,
          kernel_maps: { maps: s.kernelMaps.maps, max_entries: s.kernelMaps.keys, memlock_bytes: s.kernelMaps.bytes },
          ...(final ? { stopped_by: s.stoppedBy } : {}),
          records_out: set.records, coverage_errors: reconciler.errors, log_lines_suppressed: con.suppressed, sinks: set.stats(),
        },
      },
    };
    set.write(rec);
    info(`stats: ${s.events} events, ${s.windows} windows, ${s.flowRecords} flow records, ${s.overflowCount} overflowed, ${s.lost} lost, ${s.suppressed} suppressed, ${s.kernelMissed} skipped by the kernel (BPF recursion${s.kernelMissed ? `: ${Object.entries(s.kernelMissedBySignal).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}), ${s.unattributed} unattributed (full kernel map), ${s.restarts} restarts, ${s.undecodable} undecodable, ${s.strayEntries} stray, ${set.records} records out`);
  };

  let timer: NodeJS.Timeout | null = null;
  let started = false;
  // The one way out, whether stopped, finished, the tracer gave up, or a bug
  // hit the last-resort handler: bpftrace stopped first (its exit print of our
  // maps is the last partial window), then every sink flushed and closed, locks last.
  let stopping: Promise<void> | null = null;
  const shutdown = () =>
    (stopping ??= (async () => {
      if (timer) clearInterval(timer);
      await session.stop();
      session.finishFlows();
      await pending;
      diag?.flushHeld();
      diag?.close();
      if (started) selfStats(true);
      await set.flush();
      await set.close();
      con.close();
      // Where every record ended, counted after the last write (scripts/soak reads it).
      if (started) info(`final accounting: ${JSON.stringify({ records_out: set.records, sinks: set.stats() })}`);
      for (const l of locks) l.release();
    })());
  const uninstall = (deps.lastResort ?? installLastResort)({ log: (m) => info(m), shutdown });
  try {
    await session.start();
    await diag?.start();
    started = true;
    info(`tracing ${session.included.map((s) => `${s.signal} (${s.variant})`).join(', ')}; windows of ${a.interval} s`);
    if (!session.tracerDiesWithUs) log('warning: util-linux setpriv with --pdeathsig is not available: if droptrace is killed with SIGKILL, bpftrace stays attached until its next output line');
    timer = setInterval(() => selfStats(false), a['stats-interval'] * 1000);
    await untilStopped(durationMs(a), session.wait(), { onReason: info, ...deps.stop });
  } finally {
    await shutdown();
    uninstall();
  }
}
