// droptrace run: the sidecar. Every probe, in-kernel per-flow windows, and
// the sinks (NDJSON on stdout, rotating files, Elasticsearch), with periodic
// self-stats and kernel-counter reconciliation.
//   probes/*.bt → TraceSession (source → decode → enrich → aggregate) → SinkSet → sinks
import type { Argv } from 'yargs';
import { hostname } from 'node:os';
import { rawFiltersFrom, durationMs, bpftraceFrom, untilStopped } from '../common-options.js';
import { addRunOptions, loadConfig } from '../../config/index.js';
import { openConfiguredSinks } from '../configured-sinks.js';
import { TraceSession } from '../../session/trace-session.js';
import { SinkSet, StdoutJsonSink } from '../../sinks/fanout/sink-set.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../text/escape.js';
import { Reconciler } from '../../aggregate/reconcile.js';
import { readCountersViaNsenter } from '../../platform/procfs-counters.js';
import { findNetnsHandles } from '../../enrich/interfaces.js';
import type { EcsRecord, Sink } from '../../record/ecs.js';
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { acquireLock, type Lock } from '../../platform/lock.js';
import { preparePrivateDir } from '../../platform/private-files.js';
import { RepeatLimiter } from '../../platform/log-limiter.js';
import { installLastResort } from '../../platform/last-resort.js';
import { redact } from '../../text/redact.js';
import { WindowDiagnoser } from '../../diagnose/window/window-diagnoser.js';
import { resolveNetnsArgs } from '../../diagnose/netns/select.js';

export function builder(y: Argv) {
  // Every option comes from one schema (src/config/schema.ts): flags > env
  // (DROPTRACE_*) > --config file (YAML/JSON) > defaults.
  return addRunOptions(y)
    .example('$0 --json --interval 10', 'flow records every 10 s on stdout')
    .example('$0 --output-dir /var/log/droptrace --es-url https://es:9200 --es-api-key-file /etc/droptrace/es.key', 'the sidecar: files and Elasticsearch')
    .example('$0 --config /etc/droptrace/droptrace.yaml', 'everything from a config file');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const cfg = loadConfig({ argv });
  const a = cfg;
  const ms = durationMs(a);
  const interval = a.interval;
  const host = a['host-name'] ?? hostname();
  // Every line: secrets masked, terminal controls escaped. Warnings and errors
  // go through the repeat limiter (a full disk is one line a minute, counted).
  const info = (m: string) => process.stderr.write(`droptrace: ${escapeForTerminal(redact(m))}\n`);
  const limiter = new RepeatLimiter(info, { timer: true });
  const log = (m: string) => limiter.log(m);

  // One writer per directory (platform/lock.ts): a second `run` on the same
  // output directory or spool is refused, naming the holder. Directories are
  // created 0700 or checked as they are (never chmod'ed) before anything is opened.
  const locks: Lock[] = [];
  const releaseLocks = () => {
    for (const l of locks.splice(0)) l.release();
  };
  let sinks: Sink[];
  try {
    const held = new Set<string>();
    const lockDir = async (dir: string, what: string, flag: string) => {
      preparePrivateDir(dir, { what });
      const real = realpathSync(dir);
      if (held.has(real)) return;
      held.add(real);
      locks.push(await acquireLock(dir, { purpose: `run ${flag}` }));
    };
    if (cfg['output-dir']) await lockDir(cfg['output-dir'], 'output directory', '--output-dir');
    if (cfg['es-url']) {
      await lockDir(cfg['es-spool-dir'], 'spool directory', '--es-spool-dir');
      if (cfg['es-dead-letter']) preparePrivateDir(dirname(cfg['es-dead-letter']), { what: 'dead-letter directory' });
    }
    // Sinks first: an unusable output directory or a refused Elasticsearch
    // (bad CA, fingerprint or credentials) fails before any probe is loaded.
    sinks = await openConfiguredSinks(cfg, log);
  } catch (e) {
    releaseLocks();
    limiter.close();
    throw e;
  }
  if (a.json || sinks.length === 0) sinks.push(new StdoutJsonSink(new StdoutWriter(process.stdout)));
  const set = new SinkSet(sinks, (name, e) => log(`sink ${name}: ${(e as Error).message}`));

  const handles = () => new Map(findNetnsHandles().map((h) => [h.inode, h.path]));
  let nsPaths = handles();
  const reconciler = new Reconciler({
    hostName: host,
    readCounters: readCountersViaNsenter,
    netnsPath: (ino) => nsPaths.get(ino) ?? (nsPaths = handles()).get(ino),
  });
  // Counters and findings per window (and rule.* on NETFILTER_DROP flow records).
  const diag = a.diagnose
    ? new WindowDiagnoser({ hostName: host, stateDir: a['state-dir'], only: resolveNetnsArgs(a['filter-netns'], 'filter-netns'), write: (r) => set.write(r), log })
    : null;
  const emit = (r: EcsRecord) => {
    reconciler.observe(r);
    if (diag?.observe(r)) return;
    set.write(r);
  };
  // Counter baselines and rule snapshots are taken while bpftrace compiles;
  // the ready file waits for them. Not as non-root: the session refuses that first.
  const diagStart = diag && (process.getuid?.() ?? 0) === 0 ? diag.start() : undefined;
  diagStart?.catch(() => undefined);
  let pending: Promise<void> = Promise.resolve();
  const session = new TraceSession({
    bpftrace: bpftraceFrom(a),
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    readyGate: diagStart,
    hostName: host,
    stream: a['stream-rate'] > 0 ? { ratePerSec: a['stream-rate'] } : null,
    kernelStack: a['kernel-stack'],
    disabledSignals: a['incoming-loss'] ? [] : ['incoming-loss'],
    aggregate: { intervalS: interval, maxFlows: a['max-flows'], collectorMaxFlows: a['collector-max-flows'], idleTimeoutS: a['idle-timeout'], kernelMapKeys: a['kernel-map-keys'] },
    onRecord: emit,
    onWindowClosed: (w) => {
      pending = pending.then(async () => {
        await diag?.closeWindow(w);
        for (const r of await reconciler.closeWindow(w.startIso, w.endIso)) set.write(r);
      });
    },
    onWarning: (m) => log(`warning: ${m}`),
  });

  const statsEvery = a['stats-interval'] * 1000;
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
          records_out: set.records, coverage_errors: reconciler.errors, log_lines_suppressed: limiter.suppressed, sinks: set.stats(),
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
      limiter.close();
      // Where every record ended, counted after the last write (scripts/soak reads it).
      if (started) info(`final accounting: ${JSON.stringify({ records_out: set.records, sinks: set.stats() })}`);
      releaseLocks();
    })());
  const uninstall = installLastResort({ log: (m) => info(m), shutdown });
  try {
    await session.start();
    await diag?.start();
    started = true;
    info(`tracing ${session.included.map((s) => `${s.signal} (${s.variant})`).join(', ')}; windows of ${interval} s`);
    if (!session.tracerDiesWithUs) log('warning: util-linux setpriv with --pdeathsig is not available: if droptrace is killed with SIGKILL, bpftrace stays attached until its next output line');
    timer = setInterval(() => selfStats(false), statsEvery);
    await untilStopped(ms, session.wait(), { onReason: info });
  } finally {
    await shutdown();
    uninstall();
  }
}
