// `droptrace pcap FILE|DIR…`: TCP loss analysis of capture files, per
// connection and data direction, as the same `droptrace.flows` records as
// `run` (observer.type "pcap"), to the same sinks (src/sinks/registry.ts). A
// human summary table by default, NDJSON with --json. With one file argument
// this is the `tcpdump -z` form: with pcap-state-dir set (config file),
// connection state is carried from one rotated file to the next and
// overlapping runs serialize on a lock.
//   files → src/pcap (reader → decode → analysis → records) → SinkSet → sinks
import type { Writable } from 'node:stream';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { gzipFile } from '../sinks/file/compress.js';
import { SinkSet } from '../sinks/fanout/sink-set.js';
import { SINKS, enabledSinks, openSinks, sinkDirectories } from '../sinks/registry.js';
import type { Sink, SinkDefinition, SinkDirectory } from '../sinks/sink.js';
import { escapeForTerminal } from '../text/escape.js';
import type { EcsRecord } from '../record/ecs.js';
import { acquireLock, type Lock } from '../platform/lock.js';
import { preparePrivateDir } from '../platform/private-files.js';
import { Analyser, type FileReport } from '../pcap/analyse.js';
import { PcapSummary } from '../pcap/summary.js';
import { expandCaptureArgs } from '../pcap/files.js';
import { earlierRotationFiles, loadState, saveState, statePathFor } from '../pcap/state-file.js';
import { CaptureError } from '../pcap/errors.js';

/** Below this snapshot length TCP options (timestamps, SACK blocks) are cut. */
const FULL_OPTIONS_SNAPLEN = 128;

export interface PcapOptions {
  json: boolean;
  'host-name'?: string;
  interval: number;
  'collector-max-flows': number;
  'pcap-state-dir'?: string;
  'pcap-state-max-connections': number;
  'pcap-max-connections': number;
  'pcap-after': string;
  'pcap-lock-wait': number;
  /** Every sink's own options, by name. */
  readonly [sinkOption: string]: unknown;
}

export interface PcapDeps {
  stdout?: Writable;
  stderr?: Writable;
  sinks?: readonly SinkDefinition[];
}

export async function runPcap(cfg: PcapOptions, args: string[], deps: PcapDeps = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const files = expandCaptureArgs(args);
  const host = cfg['host-name'] ?? hostname();
  const log = (m: string) => stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  const stateDir = cfg['pcap-state-dir'];
  const sinkDefs = enabledSinks(cfg, deps.sinks ?? SINKS);

  // Overlapping runs (tcpdump -z does not wait) take turns: the state and the
  // sinks' files are only ever touched by one run at a time.
  const dirs: SinkDirectory[] = [
    ...(stateDir ? [{ path: stateDir, what: 'pcap state directory', flag: '--pcap-state-dir', lock: true }] : []),
    ...sinkDirectories(sinkDefs, cfg),
  ];
  const locks: Lock[] = [];
  const held = new Set<string>();
  try {
    // The lock file lives in the directory: create it (0700, ours) first.
    for (const d of dirs) preparePrivateDir(d.path, { what: d.what });
    for (const d of dirs) {
      if (!d.lock || held.has(resolve(d.path))) continue;
      held.add(resolve(d.path));
      locks.push(await acquireLock(d.path, { waitMs: cfg['pcap-lock-wait'] * 1000, purpose: `droptrace pcap ${files.length === 1 ? files[0] : `${files.length} files`}` }));
    }
    await analyse(cfg, files, host, log, stateDir, cfg.json === true, sinkDefs, stdout);
  } finally {
    for (const l of locks.reverse()) l.release();
  }
}

async function analyse(cfg: PcapOptions, filesIn: string[], host: string, log: (m: string) => void, stateDir: string | undefined, json: boolean, sinkDefs: readonly SinkDefinition[], stdout: Writable): Promise<void> {
  let files = filesIn;
  const sinks: Sink[] = await openSinks(sinkDefs, cfg, { log, stdout });
  const set = new SinkSet(sinks, (name, e) => log(`sink ${name}: ${(e as Error).message}`));
  const summary = new PcapSummary();
  const analyser = new Analyser({
    hostName: host, intervalS: cfg.interval, maxConnections: cfg['pcap-max-connections'], maxRecords: cfg['collector-max-flows'],
    onRecord: (r) => {
      summary.add(r);
      set.write(r);
    },
  });
  const statePath = stateDir ? statePathFor(stateDir, files[0]) : undefined;
  let lastMtimeMs = 0;
  let handled: string[] = [];
  if (statePath) {
    const st = loadState(statePath, (m) => log(`warning: ${m}`));
    if (st) {
      analyser.carry(st);
      lastMtimeMs = st.lastMtimeMs ?? 0;
      handled = st.paths ?? [];
    }
    if (files.length === 1 && !existsSync(files[0]) && handled.includes(resolve(files[0]))) {
      log(`${files[0]}: already analysed by an earlier run (and ${cfg['pcap-after'] === 'delete' ? 'deleted' : 'moved'})`);
      await set.close();
      return;
    }
    // The tcpdump -z form: earlier files of the rotation whose own runs have
    // not got the lock yet are analysed first, in order.
    if (files.length === 1) {
      const earlier = earlierRotationFiles(files[0], lastMtimeMs);
      if (earlier.length) log(`analysing ${earlier.length} earlier file(s) of the rotation first: ${earlier.join(', ')}`);
      files = [...earlier, ...files];
    }
  }

  const reports: FileReport[] = [];
  for (const f of files) {
    const rep = await analyser.file(f);
    reports.push(rep);
    set.write(fileRecord(rep, host, analyser.tracker.stats.evicted));
    if (rep.error) log(`error: ${rep.error.message}`);
    else if (rep.duplicate) log(`${f}: already analysed (same capture content); not counted again`);
    const skipped = Object.entries(rep.skipped).map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`);
    if (rep.reader.truncatedTailBytes) skipped.push(`1 incomplete last record (${rep.reader.truncatedTailBytes} bytes)`);
    if (rep.reader.zeroLength) skipped.push(`${rep.reader.zeroLength} zero-length records`);
    if (rep.reader.badRecords) skipped.push(`${rep.reader.badRecords} bad records`);
    if (!rep.duplicate) log(`${f}: ${rep.reader.packets} packets, ${rep.tcpPackets} TCP, ${rep.connectionsNew} new connections${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}`);
    if (rep.tcpPackets > 0 && (rep.optionsCut > 0 || rep.reader.snaplen < FULL_OPTIONS_SNAPLEN)) {
      log(`${f}: TCP options cut by the snapshot length in ${rep.optionsCut} of ${rep.tcpPackets} packets: loss is still counted from the TCP header and IP lengths, but SACK/D-SACK evidence and window-full detection need the options (capture with -s 128 or more)`);
    }
  }
  if (analyser.tracker.stats.evicted) log(`warning: ${analyser.tracker.stats.evicted} connections evicted (more than pcap-max-connections ${cfg['pcap-max-connections']} at once); their later segments were analysed as new connections`);

  await set.flush();
  await set.close();
  const shipped = !Object.values(set.stats()).some((s) => (s.write_failures ?? 0) > 0);
  for (const rep of reports) {
    const m = statSync(rep.path, { throwIfNoEntry: false })?.mtimeMs;
    if (m !== undefined && !rep.error && m > lastMtimeMs) lastMtimeMs = m;
  }
  for (const rep of reports) if (!rep.error) handled.push(resolve(rep.path));
  // A run over files older than the carried state (re-analysis) leaves the state as it was.
  if (statePath && analyser.lastTsUs >= 0 && analyser.lastTsUs >= analyser.carriedTsUs) {
    const n = saveState(statePath, { lastTsUs: analyser.lastTsUs, lastMtimeMs, seen: analyser.seen, paths: handled, conns: analyser.tracker.conns.values() }, { maxConnections: cfg['pcap-state-max-connections'], idleUs: 300_000_000 });
    log(`state: ${n} connections carried to the next file (${statePath})`);
  }
  if (!json) stdout.write(summary.render());
  for (const rep of reports) {
    if (rep.error || !shipped || cfg['pcap-after'] === 'keep') continue;
    try {
      if (cfg['pcap-after'] === 'delete') unlinkSync(rep.path);
      else if (!rep.gzip) await gzipFile(rep.path, `${rep.path}.gz`, `${rep.path}.gz.tmp`);
    } catch (e) {
      log(`warning: cannot ${cfg['pcap-after']} ${rep.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const failed = reports.filter((r) => r.error);
  if (failed.length) {
    throw new CaptureError(failed[0].path, failed.length === 1 ? failed[0].error!.message.slice(failed[0].path.length + 2) : `and ${failed.length - 1} more files could not be analysed completely (see above)`);
  }
  if (reports.every((r) => r.duplicate)) return;
  if (reports.every((r) => r.tcpPackets === 0)) log('no TCP packets in the input');
}

function fileRecord(rep: FileReport, host: string, evicted: number): EcsRecord {
  const now = new Date().toISOString();
  const r = rep.reader;
  return {
    '@timestamp': rep.firstTsUs !== undefined ? new Date(rep.firstTsUs / 1000).toISOString() : now,
    event: { kind: 'event', category: ['network'], action: 'pcap-file', dataset: 'droptrace.stats', outcome: rep.error ? 'failure' : 'success' },
    host: { name: host },
    file: { path: rep.path },
    droptrace: {
      id: `pcap-file-${rep.fingerprint ?? `${host}-${Date.parse(now)}-${process.pid}`}`,
      pcap: {
        fingerprint: rep.fingerprint, format: r.format, gzip: rep.gzip, packets: r.packets, tcp_packets: rep.tcpPackets, skipped: rep.skipped,
        zero_length: r.zeroLength, bad_records: r.badRecords, skipped_blocks: r.skippedBlocks, truncated_tail_bytes: r.truncatedTailBytes,
        snaplen: r.snaplen, options_cut: rep.optionsCut, connections_new: rep.connectionsNew, connections_evicted: evicted, records: rep.records,
        interfaces: r.interfaces.map((i) => ({ id: String(i.index), linktype: i.linktype, ...(i.name ? { name: i.name } : {}) })),
        ...(rep.firstTsUs !== undefined ? { first_packet: new Date(rep.firstTsUs / 1000).toISOString(), last_packet: new Date((rep.lastTsUs ?? rep.firstTsUs) / 1000).toISOString() } : {}),
        ...(rep.duplicate ? { duplicate: true } : {}),
        ...(rep.error ? { error: rep.error.message } : {}),
      },
    },
  };
}

