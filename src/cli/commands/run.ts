// droptrace run: the sidecar. Every probe, in-kernel per-flow windows, and
// the sinks (NDJSON on stdout, rotating files, Elasticsearch), with periodic
// self-stats and kernel-counter reconciliation.
//   probes/*.bt → TraceSession (source → decode → enrich → aggregate) → SinkSet → sinks
import type { Argv } from 'yargs';
import { hostname } from 'node:os';
import { rawFiltersFrom, durationMs, bpftraceFrom, untilStopped, type TracerArgs } from '../common-options.js';
import { addRunOptions, loadConfig } from '../../config/index.js';
import { openConfiguredSinks } from '../configured-sinks.js';
import { TraceSession } from '../../session/trace-session.js';
import { SinkSet, StdoutJsonSink } from '../../sinks/fanout/sink-set.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../sinks/terminal/escape.js';
import { Reconciler } from '../../aggregate/reconcile.js';
import { readCountersViaNsenter } from '../../enrich/kernel-counters.js';
import { findNetnsHandles } from '../../enrich/interfaces.js';
import type { EcsRecord, Sink } from '../../record/ecs.js';
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
  const log = (m: string) => process.stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  // Sinks first: an unusable output directory or a refused Elasticsearch
  // (bad CA, fingerprint or credentials) fails before any probe is loaded.
  const sinks: Sink[] = await openConfiguredSinks(cfg, log);
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
  let pending: Promise<void> = Promise.resolve();
  // Counter baselines and rule snapshots are taken while bpftrace compiles;
  // the ready file waits for them. Not as non-root: the session refuses that first.
  const diagStart = diag && (process.getuid?.() ?? 0) === 0 ? diag.start() : undefined;
  diagStart?.catch(() => undefined);
  const session = new TraceSession({
    readyGate: diagStart,
    bpftrace: bpftraceFrom(a),
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
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
          lines_in: s.lines, events_in: s.events, undecodable: s.undecodable, lost: s.lost, suppressed: s.suppressed,
          windows: s.windows, flow_records: s.flowRecords, overflowed: s.overflowCount, restarts: s.restarts, gaps: s.gaps, stray_entries: s.strayEntries, kernel_missed: s.kernelMissed, kernel_missed_by_signal: s.kernelMissedBySignal, unattributed: s.unattributed, window_stalls: s.windowStalls,
          kernel_maps: { maps: s.kernelMaps.maps, max_entries: s.kernelMaps.keys, memlock_bytes: s.kernelMaps.bytes },
          records_out: set.records, coverage_errors: reconciler.errors, sinks: set.stats(),
        },
      },
    };
    set.write(rec);
    log(`stats: ${s.events} events, ${s.windows} windows, ${s.flowRecords} flow records, ${s.overflowCount} overflowed, ${s.lost} lost, ${s.suppressed} suppressed, ${s.kernelMissed} skipped by the kernel (BPF recursion${s.kernelMissed ? `: ${Object.entries(s.kernelMissedBySignal).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}), ${s.unattributed} unattributed (full kernel map), ${s.restarts} restarts, ${s.undecodable} undecodable, ${s.strayEntries} stray, ${set.records} records out`);
  };

  try {
    await session.start();
    await diag?.start();
  } catch (e) {
    diag?.close();
    await session.stop().catch(() => undefined);
    throw e;
  }
  log(`tracing ${session.included.map((s) => `${s.signal} (${s.variant})`).join(', ')}; windows of ${interval} s`);
  const timer = setInterval(() => selfStats(false), statsEvery);
  try {
    await untilStopped(ms, session.wait());
  } finally {
    clearInterval(timer);
    // Stop bpftrace first: its END probe prints the last partial window.
    await session.stop();
    session.finishFlows();
    await pending;
    diag?.flushHeld();
    diag?.close();
    selfStats(true);
    await set.flush();
    await set.close();
  }
}
