// droptrace pcap FILE|DIR…: TCP loss analysis of capture files, per
// connection and data direction, as the same `droptrace.flows` records as
// `run` (observer.type "pcap"), to the same sinks. A human summary table by
// default, NDJSON with --json, files/Elasticsearch from flags or the config
// file (default /etc/droptrace/droptrace.yaml, or DROPTRACE_CONFIG).
// With one file argument this is the `tcpdump -z` form: with pcap-state-dir
// set (config file), connection state is carried from one rotated file to
// the next and overlapping runs serialize on a lock.
//   files → src/pcap (reader → decode → analysis → records) → SinkSet → sinks
import type { Argv } from 'yargs';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { addRunOptions, loadConfig, type RunConfig } from '../../config/index.js';
import { gzipFile } from '../../sinks/file/compress.js';
import { ensurePrivateDir } from '../../sinks/file/secure-fs.js';
import { openConfiguredSinks } from '../configured-sinks.js';
import { SinkSet, StdoutJsonSink } from '../../sinks/fanout/sink-set.js';
import { StdoutWriter } from '../../sinks/terminal/stdout-writer.js';
import { escapeForTerminal } from '../../sinks/terminal/escape.js';
import type { EcsRecord, Sink } from '../../record/ecs.js';

import { acquireLock, type Lock } from '../../platform/lock.js';
import { Analyser, type FileReport } from '../../pcap/analyse.js';
import { PcapSummary } from '../../pcap/summary.js';
import { expandCaptureArgs } from '../../pcap/files.js';
import { earlierRotationFiles, loadState, saveState, statePathFor } from '../../pcap/state-file.js';
import { CaptureError } from '../../pcap/errors.js';

export const DEFAULT_CONFIG = '/etc/droptrace/droptrace.yaml';
const OWN = new Set(['interval', 'collector-max-flows', 'host-name']);
/** Below this snapshot length TCP options (timestamps, SACK blocks) are cut. */
const FULL_OPTIONS_SNAPLEN = 128;

export function builder(y: Argv) {
  return addRunOptions(y, (s) => ['Output', 'Files', 'Elasticsearch', 'Pcap'].includes(s.group) || OWN.has(s.name))
    .usage('$0 FILE|DIR... [options]\n\nTCP loss per connection and direction from pcap/pcapng files (gzip too): retransmissions, fast/spurious retransmissions, out-of-order, lost segments, duplicate ACKs, zero windows, … as flow records.')
    .demandCommand(1, 'Name at least one capture file or directory.')
    .example('$0 dump.pcap', 'summary table of the lossy flows')
    .example('$0 --json dumps/', 'flow records (NDJSON) for every file in dumps/')
    .example('tcpdump -i eth0 -s 128 -W 50 -C 10 -w /var/dumps/dump -Z root -z $(command -v droptrace) tcp', 'tcpdump runs `droptrace pcap FILE` on each rotated file; sinks and pcap-state-dir from /etc/droptrace/droptrace.yaml');
}

export async function handler(argv: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const explicit = argv.config !== undefined || (env.DROPTRACE_CONFIG ?? '') !== '';
  const cfg = loadConfig({ argv, env, configPath: explicit ? undefined : existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined });
  const files = expandCaptureArgs((argv._ as unknown[]).map(String));
  const host = cfg['host-name'] ?? hostname();
  const log = (m: string) => process.stderr.write(`droptrace: ${escapeForTerminal(m)}\n`);
  const stateDir = cfg['pcap-state-dir'];

  // Overlapping runs (tcpdump -z does not wait) take turns: the state and the
  // output files are only ever touched by one run at a time.
  const locks: Lock[] = [];
  const lockDirs = [...new Set([stateDir, cfg['output-dir']].filter((d): d is string => !!d))];
  try {
    // The lock file lives in the directory: create it (0700, ours) first.
    for (const d of lockDirs) ensurePrivateDir(d);
    for (const d of lockDirs) locks.push(await acquireLock(d, { waitMs: cfg['pcap-lock-wait'] * 1000, purpose: `droptrace pcap ${files.length === 1 ? files[0] : `${files.length} files`}` }));
    await analyse(cfg, files, host, log, stateDir, argv.json === true || cfg.json);
  } finally {
    for (const l of locks.reverse()) l.release();
  }
}

async function analyse(cfg: RunConfig, filesIn: string[], host: string, log: (m: string) => void, stateDir: string | undefined, json: boolean): Promise<void> {
  let files = filesIn;
  const sinks: Sink[] = await openConfiguredSinks(cfg, log);
  if (json) sinks.push(new StdoutJsonSink(new StdoutWriter(process.stdout)));
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
  if (!json) process.stdout.write(summary.render());
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

