#!/usr/bin/env node
// scripts/bench pcap: capture analysis speed and memory, as ratios against
// baselines measured in the same run (interleaved, median of BENCH_REPEATS).
//  - packets/s on one core (taskset -c 0) over a synthetic ≥ 1 M-packet
//    snaplen-64 capture of lossy TCP transfers: `droptrace pcap` vs
//    `tshark -r -T fields` with the same tcp.analysis.* fields as the tests
//    vs `tcpdump -r` (decoding alone);
//  - peak RSS of `droptrace pcap` on a capture with 1 M connections, with the
//    default bound (pcap-max-connections 1 M) and a lower one.
// The captures are generated (deterministic), so every run measures the same input.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPEATS, median, fmt, table } from './bench-lib.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const PACKETS = Number(process.env.BENCH_PCAP_PACKETS ?? 1_200_000);


/** A pcap writer with a large buffer: 16-byte record header + a frame cut to `snap` bytes. */
class Writer {
  constructor(path, snap) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.alloc(8 << 20);
    this.n = 0;
    this.snap = snap;
    const gh = Buffer.alloc(24);
    gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6); gh.writeUInt32LE(snap, 16); gh.writeUInt32LE(1, 20);
    writeSync(this.fd, gh);
    this.frame = Buffer.alloc(54);
    this.frame.writeUInt16BE(0x0800, 12);
  }
  /** One TCP segment (IPv4 addresses as numbers). */
  seg(tsUs, src, dst, sport, dport, seq, ack, flags, win, len) {
    const f = this.frame;
    f[14] = 0x45; f.writeUInt16BE(40 + len, 16); f[22] = 64; f[23] = 6;
    f.writeUInt32BE(src >>> 0, 26); f.writeUInt32BE(dst >>> 0, 30);
    f.writeUInt16BE(sport, 34); f.writeUInt16BE(dport, 36); f.writeUInt32BE(seq >>> 0, 38); f.writeUInt32BE(ack >>> 0, 42);
    f[46] = 0x50; f[47] = flags; f.writeUInt16BE(win, 48);
    const cap = Math.min(this.snap, 54 + len);
    if (this.n + 16 + cap > this.buf.length) this.flush();
    const b = this.buf;
    b.writeUInt32LE(Math.floor(tsUs / 1e6), this.n); b.writeUInt32LE(tsUs % 1e6, this.n + 4);
    b.writeUInt32LE(cap, this.n + 8); b.writeUInt32LE(54 + len, this.n + 12);
    f.copy(b, this.n + 16, 0, Math.min(cap, 54));
    if (cap > 54) b.fill(0x61, this.n + 16 + 54, this.n + 16 + cap);
    this.n += 16 + cap;
  }
  flush() {
    writeSync(this.fd, this.buf, 0, this.n);
    this.n = 0;
  }
  close() {
    this.flush();
    closeSync(this.fd);
  }
}

const SYN = 2, ACK = 16, PSH = 8;

/**
 * Bulk transfers on `conns` concurrent connections, round robin: segments of
 * 1448 bytes, an ACK every second segment, 1 % of segments "lost"
 * downstream (retransmitted after three duplicate ACKs).
 */
function lossyCapture(path, packets, conns = 1000) {
  const w = new Writer(path, 64);
  let t = 1_700_000_000_000_000;
  let n = 0;
  const st = Array.from({ length: conns }, (_, i) => ({ c: 0x0a000001 + (i >> 8), s: 0x0a100001, cp: 30000 + (i & 0xff), sp: 443, seq: 1000 + i, ack: 50_000 + i, k: 0 }));
  for (const x of st) {
    w.seg(t += 2, x.c, x.s, x.cp, x.sp, x.seq - 1, 0, SYN, 64240, 0);
    w.seg(t += 2, x.s, x.c, x.sp, x.cp, x.ack - 1, x.seq, SYN | ACK, 65160, 0);
    w.seg(t += 2, x.c, x.s, x.cp, x.sp, x.seq, x.ack, ACK, 502, 0);
    n += 3;
  }
  let i = 0;
  while (n < packets) {
    const x = st[i++ % conns];
    x.k++;
    if (x.k % 100 === 0) {
      // A lost segment: three duplicate ACKs, then its fast retransmission.
      const lost = x.seq;
      x.seq += 1448;
      w.seg(t += 1, x.c, x.s, x.cp, x.sp, x.seq, x.ack, ACK | PSH, 502, 1448);
      for (let d = 0; d < 3; d++) w.seg(t += 1, x.s, x.c, x.sp, x.cp, x.ack, lost, ACK, 509, 0);
      w.seg(t += 1, x.c, x.s, x.cp, x.sp, lost, x.ack, ACK | PSH, 502, 1448);
      x.seq += 1448;
      w.seg(t += 1, x.s, x.c, x.sp, x.cp, x.ack, x.seq, ACK, 509, 0);
      n += 6;
      continue;
    }
    w.seg(t += 1, x.c, x.s, x.cp, x.sp, x.seq, x.ack, ACK | PSH, 502, 1448);
    x.seq += 1448;
    n++;
    if (x.k % 2 === 0) {
      w.seg(t += 1, x.s, x.c, x.sp, x.cp, x.ack, x.seq, ACK, 509, 0);
      n++;
    }
  }
  w.close();
  return n;
}

/** `conns` connections, each a SYN, SYN-ACK and one lost-and-retransmitted data segment. */
function manyConnections(path, conns) {
  const w = new Writer(path, 64);
  let t = 1_700_000_000_000_000;
  let n = 0;
  for (let i = 0; i < conns; i++) {
    const c = 0x0b000000 + i, s = 0x0c000001, cp = 40000 + (i % 20000), seq = i * 7;
    w.seg(t += 1, c, s, cp, 80, seq, 0, SYN, 64240, 0);
    w.seg(t += 1, s, c, 80, cp, 99, seq + 1, SYN | ACK, 65160, 0);
    w.seg(t += 1, c, s, cp, 80, seq + 1, 100, ACK | PSH, 502, 100);
    n += 3;
  }
  // Every connection again, a retransmission of its segment (all of them still tracked, or evicted).
  for (let i = 0; i < conns; i++) {
    const c = 0x0b000000 + i, s = 0x0c000001, cp = 40000 + (i % 20000), seq = i * 7;
    w.seg(t += 1, c, s, cp, 80, seq + 1, 100, ACK | PSH, 502, 100);
    n++;
  }
  w.close();
  return n;
}

function timed(argv, env = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('taskset', ['-c', '0', ...argv], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, HOME: '/tmp', ...env }, maxBuffer: 1 << 26 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return s;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-pcap-'));
try {
  const cap = join(dir, 'lossy-s64.pcap');
  const n = lossyCapture(cap, PACKETS);
  const FIELDS = ['retransmission', 'fast_retransmission', 'spurious_retransmission', 'out_of_order', 'lost_segment', 'duplicate_ack', 'zero_window', 'window_full', 'keep_alive', 'zero_window_probe'];
  const runs = {
    droptrace: [process.execPath, join(REPO, 'bin', 'droptrace.js'), 'pcap', '--json', cap],
    tshark: ['tshark', '-n', '-r', cap, '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'tcp.dstport', ...FIELDS.flatMap((f) => ['-e', `tcp.analysis.${f}`])],
    tcpdump: ['tcpdump', '-n', '-r', cap],
  };
  const t = { droptrace: [], tshark: [], tcpdump: [] };
  for (let i = 0; i < REPEATS; i++) for (const k of Object.keys(runs)) t[k].push(timed(runs[k], { DROPTRACE_CONFIG: '' }));
  const pps = (k) => n / median(t[k]);
  table(`Capture analysis, one core (taskset -c 0): ${fmt(n)} packets, snaplen 64, 1,000 lossy connections (median of ${REPEATS}, whole process incl. start-up)`, ['what', 'seconds', 'packets/s', 'droptrace ÷ this'], [
    ['droptrace pcap --json', fmt(median(t.droptrace), 2), fmt(pps('droptrace')), '1.00'],
    ['tshark -r -T fields (tcp.analysis.* fields)', fmt(median(t.tshark), 2), fmt(pps('tshark')), fmt(pps('droptrace') / pps('tshark'), 2) + (pps('droptrace') / pps('tshark') >= 5 ? ' (goal ≥ 5 met)' : ' (goal ≥ 5 NOT met)')],
    ['tcpdump -r (decode only)', fmt(median(t.tcpdump), 2), fmt(pps('tcpdump')), fmt(pps('droptrace') / pps('tcpdump'), 2)],
  ]);
  console.log(`\ndroptrace: ${fmt(pps('droptrace'))} packets/s (goal ≥ 1,000,000: ${pps('droptrace') >= 1e6 ? 'met' : 'NOT met'})`);

  const many = join(dir, 'conns-1M.pcap');
  const nm = manyConnections(many, 1_000_000);
  const rows = [];
  // V8 grows its heap lazily when garbage (evicted connections) is plentiful:
  // the last row caps the heap to show that the bound holds.
  for (const [max, heapMb] of [[1_000_000, 0], [100_000, 0], [100_000, 160]]) {
    const r = spawnSync(process.execPath, [...(heapMb ? [`--max-old-space-size=${heapMb}`] : []), join(REPO, 'scripts', 'bench-pcap-child.mjs'), many, String(max)], { encoding: 'utf8', env: { PATH: process.env.PATH, DROPTRACE_CONFIG: '' } });
    if (r.status !== 0) throw new Error(r.stderr);
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1));
    rows.push([fmt(1_000_000), fmt(max), heapMb ? `${heapMb} MB` : 'default', fmt(o.peakMb, 0), fmt(o.seconds, 2), fmt(o.evicted), fmt(o.retransmissions)]);
  }
  table(`Peak RSS: ${fmt(nm)} packets, 1,000,000 connections (each: handshake and a segment, then all retransmitted)`, ['connections in capture', 'pcap-max-connections', 'V8 heap limit', 'peak RSS MB', 'seconds', 'evicted', 'retransmissions found'], rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
