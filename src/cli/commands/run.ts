// droptrace run: the sidecar. Every probe, in-kernel per-flow windows, and
// the sinks (NDJSON on stdout, rotating files, Elasticsearch), with periodic
// self-stats and kernel-counter reconciliation.
//   probes/*.bt → TraceSession (source → decode → enrich → aggregate) → SinkSet → sinks
import type { Argv } from 'yargs';
import { hostname } from 'node:os';
import { withTracerOptions, rawFiltersFrom, durationMs, bpftraceFrom, untilStopped, type TracerArgs } from '../common-options.js';
import { TraceSession } from '../../session/trace-session.js';
import { SinkSet, StdoutJsonSink } from '../../sinks/fanout/sink-set.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../sinks/terminal/escape.js';
import { Reconciler } from '../../aggregate/reconcile.js';
import { readCountersViaNsenter } from '../../enrich/kernel-counters.js';
import { findNetnsHandles } from '../../enrich/interfaces.js';
import type { EcsRecord, Sink } from '../../record/ecs.js';
import { UsageError } from '../../errors.js';

export function builder(y: Argv) {
  return withTracerOptions(y)
    .option('interval', { type: 'number', default: 10, describe: 'Seconds per flow window (windows align to wall-clock multiples)' })
    .option('max-flows', { type: 'number', default: 16384, describe: 'Distinct flows counted per window and signal in the kernel; the rest go to exact overflow records' })
    .option('collector-max-flows', { type: 'number', default: 10000, describe: 'Flow records kept per window (top by count); the rest are summed into overflow records' })
    .option('stream-rate', { type: 'number', default: 0, describe: 'Also emit per-event records, at most N/s (in-kernel limit; 0 = no per-event records)' })
    .option('idle-timeout', { type: 'number', default: 60, describe: 'Seconds without loss after which a flow gets its final record' })
    .option('stats-interval', { type: 'number', default: 60, describe: 'Seconds between self-stats records and log lines' })
    .option('json', { type: 'boolean', default: false, describe: 'Write records as NDJSON to stdout (the default when no other sink is set)' })
    .option('host-name', { type: 'string', describe: 'host.name in records (default: this host name)' })
    .example('$0 --json --interval 10', 'flow records every 10 s on stdout');
}

interface RunArgs extends TracerArgs {
  interval: number;
  'max-flows': number;
  'collector-max-flows': number;
  'stream-rate': number;
  'idle-timeout': number;
  'stats-interval': number;
  json: boolean;
  'host-name'?: string;
}

function int(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as RunArgs;
  const ms = durationMs(a);
  const interval = int('interval', a.interval, 1, 3600);
  const host = a['host-name'] ?? hostname();
  const sinks: Sink[] = [];
  if (a.json || sinks.length === 0) sinks.push(new StdoutJsonSink(new StdoutWriter(process.stdout)));
  const log = (m: string) => process.stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  const set = new SinkSet(sinks, (name, e) => log(`sink ${name}: ${(e as Error).message}`));

  const handles = () => new Map(findNetnsHandles().map((h) => [h.inode, h.path]));
  let nsPaths = handles();
  const reconciler = new Reconciler({
    hostName: host,
    readCounters: readCountersViaNsenter,
    netnsPath: (ino) => nsPaths.get(ino) ?? (nsPaths = handles()).get(ino),
  });
  const emit = (r: EcsRecord) => {
    reconciler.observe(r);
    set.write(r);
  };
  let pending: Promise<void> = Promise.resolve();
  const session = new TraceSession({
    bpftrace: bpftraceFrom(a),
    filters: rawFiltersFrom(a),
    readyFile: a['ready-file'],
    hostName: host,
    stream: a['stream-rate'] > 0 ? { ratePerSec: int('stream-rate', a['stream-rate'], 0, 10_000_000) } : null,
    aggregate: {
      intervalS: interval,
      maxFlows: int('max-flows', a['max-flows'], 1, 1_000_000),
      collectorMaxFlows: int('collector-max-flows', a['collector-max-flows'], 1, 10_000_000),
      idleTimeoutS: int('idle-timeout', a['idle-timeout'], 1, 86_400),
    },
    onRecord: emit,
    onWindowClosed: (w) => {
      pending = pending.then(async () => {
        for (const r of await reconciler.closeWindow(w.startIso, w.endIso)) set.write(r);
      });
    },
    onWarning: (m) => log(`warning: ${m}`),
  });

  const statsEvery = int('stats-interval', a['stats-interval'], 1, 86_400) * 1000;
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
          windows: s.windows, flow_records: s.flowRecords, overflowed: s.overflowCount, restarts: s.restarts, gaps: s.gaps, stray_entries: s.strayEntries, kernel_missed: s.kernelMissed,
          records_out: set.records, coverage_errors: reconciler.errors, sinks: set.stats(),
        },
      },
    };
    set.write(rec);
    log(`stats: ${s.events} events, ${s.windows} windows, ${s.flowRecords} flow records, ${s.overflowCount} overflowed, ${s.lost} lost, ${s.suppressed} suppressed, ${s.kernelMissed} skipped by the kernel (BPF recursion), ${s.restarts} restarts, ${s.undecodable} undecodable, ${s.strayEntries} stray, ${set.records} records out`);
  };

  await session.start();
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
    selfStats(true);
    await set.flush();
    await set.close();
  }
}
