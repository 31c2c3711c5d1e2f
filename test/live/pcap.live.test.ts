// Live: captures of real transfers between two namespaces (tcpdump -s 128 on
// A's veth, offloads off so the capture sees wire-sized segments), with 10 %
// random nft drops on the data path (B's input), on the ACK path (A's
// input), and on both. Checked against independent figures:
//  - tshark on the same file: per flow, direction and category within 5 %
//    (or ±2), differences printed;
//  - the same files cut to 64 bytes (editcap -s 64, where tshark flags
//    nothing): droptrace's counts within 5 % of its own on the full file;
//  - `droptrace run` (the live tracer, real bpftrace) during the transfer:
//    the retransmissions the capture shows for the data direction vs the
//    live tcp-retransmit/tcp-loss-probe records of the same flow;
//  - tcpdump -W/-C/-z: every rotated file analysed once by droptrace-pcap,
//    the counts in the output files equal to analysing the whole capture.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Lab, PY_TCP_SINK } from '../helpers/netns.js';
import { REPO, runDroptrace, startDroptrace, sleep, type Running } from '../helpers/droptrace-process.js';
import { compare, droptraceCounts, tsharkCounts, total, type Counts } from '../pcap/helpers/compare.js';

const A_IP = '10.219.1.1';
const B_IP = '10.219.1.2';
const PORTS = { data: 40711, ack: 40712, both: 40713 } as const;
const SPORT = { data: 45711, ack: 45712, both: 45713 } as const;
const PCAP_BIN = join(REPO, 'bin', 'droptrace-pcap.js');

/** Sender with a fixed source port; argv: dst port sport seconds. */
const PY_SEND = `
import socket, sys, time
dst, port, sport, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', sport))
s.settimeout(60)
s.connect((dst, port))
buf = b'x' * 16384
deadline = time.time() + secs
while time.time() < deadline:
    s.sendall(buf)
    time.sleep(0.002)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print('done', flush=True)
`;

function spawnIn(ns: string, cmd: string, args: string[], env?: Record<string, string>) {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env } });
  let out = '';
  let err = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => c.on('close', (code) => r({ code, out, err })));
  return { child: c, out: () => out, err: () => err, done };
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Stop a process group we started (tcpdump and whatever it spawned). */
function stopGroup(c: ChildProcess, sig: NodeJS.Signals = 'SIGINT'): void {
  try {
    process.kill(-c.pid!, sig);
  } catch {
    // already gone
  }
}

/** Tcp.RetransSegs of a namespace: the kernel's own count of retransmitted segments. */
function retransSegs(lab: Lab, ns: string): number {
  const snmp = lab.exec(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
  return Number(snmp[1].split(/\s+/)[snmp[0].split(/\s+/).indexOf('RetransSegs')]);
}

const flowKey = (kind: keyof typeof PORTS) => `${A_IP}:${SPORT[kind]}>${B_IP}:${PORTS[kind]}`;
const ofFlow = (m: Counts, prefix: string): Counts => new Map([...m].filter(([k]) => k.startsWith(prefix)));
const parse = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('droptrace pcap on live captures', () => {
  const lab = new Lab();
  let A: string, B: string, aDev: string;
  let dir: string;
  let full: string, cut64: string, rotDir: string, outDir: string;
  let live: Running;
  let liveRecords: Array<Record<string, any>> = [];
  let records: Array<Record<string, any>> = [];
  let retransBefore = 0;
  let retransAfter = 0;
  let txDrops = '';
  /** tcpdump's stderr, where its -z runs write theirs. */
  let rotErr = () => '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'droptrace-pcap-live-'));
    chmodSync(dir, 0o755);
    A = lab.ns('A');
    B = lab.ns('B');
    ({ aDev } = { aDev: lab.link(A, `${A_IP}/24`, B, `${B_IP}/24`, `${lab.prefix}p`).aDev });
    const bDev = aDev.replace(/a$/, 'b');
    // Segmentation offloads off: the capture then shows the segments as sent.
    lab.exec(A, 'ethtool', ['-K', aDev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    lab.exec(B, 'ethtool', ['-K', bDev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    // A queue on the veth (it has none by default): when the peer is busy the
    // stack then waits instead of dropping the segment before the capture
    // point, which would make its retransmission look like a first sending.
    lab.exec(A, 'tc', ['qdisc', 'replace', 'dev', aDev, 'root', 'pfifo', 'limit', '10000']);
    lab.exec(B, 'tc', ['qdisc', 'replace', 'dev', bDev, 'root', 'pfifo', 'limit', '10000']);
    lab.nft(B, `table inet dtest {
      chain c_in { type filter hook input priority 0;
        tcp dport { ${PORTS.data}, ${PORTS.both} } numgen random mod 10 0 counter drop comment "data10"; }
    }`);
    lab.nft(A, `table inet dtest {
      chain c_in { type filter hook input priority 0;
        tcp sport { ${PORTS.ack}, ${PORTS.both} } numgen random mod 10 0 counter drop comment "ack10"; }
    }`);

    full = join(dir, 'full.pcap');
    rotDir = join(dir, 'rot');
    outDir = join(dir, 'out');
    execFileSync('mkdir', ['-m', '0755', rotDir]);
    const cfg = join(dir, 'droptrace.yaml');
    writeFileSync(cfg, `output-dir: ${outDir}\ninterval: 1\npcap:\n  state-dir: ${join(dir, 'state')}\n  lock-wait: 120\n`);

    // The live tracer, the whole capture, and the rotating capture that runs droptrace-pcap on each finished file.
    live = startDroptrace(['run', '--json', '--interval', '1', '--filter-port', String(PORTS.data)]);
    await live.ready();
    // A large capture buffer (-B, KiB): the comparisons need every packet (checked below).
    const whole = spawnIn(A, 'tcpdump', ['-i', aDev, '-n', '-s', '128', '-B', '65536', '-U', '-w', full, 'tcp']);
    const nodeDir = dirname(process.execPath);
    const rot = spawnIn(A, 'tcpdump', ['-i', aDev, '-n', '-s', '128', '-B', '65536', '-U', '-Z', 'root', '-C', '1', '-W', '50', '-w', join(rotDir, 'dump'), '-z', PCAP_BIN, 'tcp'],
      { PATH: `${nodeDir}:/usr/sbin:/usr/bin:/sbin:/bin`, DROPTRACE_CONFIG: cfg });
    rotErr = rot.err;
    await until('tcpdump listening', () => whole.err().includes('listening on') && rot.err().includes('listening on'));

    retransBefore = retransSegs(lab, A);
    const sinks = Object.values(PORTS).map((p) => spawnIn(B, 'python3', ['-c', PY_TCP_SINK, B_IP, String(p)]));
    await until('TCP sinks', () => sinks.every((s) => s.out().includes('listening')));
    const senders = (Object.keys(PORTS) as Array<keyof typeof PORTS>).map((k) => spawnIn(A, 'python3', ['-c', PY_SEND, B_IP, String(PORTS[k]), String(SPORT[k]), '3']));
    for (const s of senders) {
      const r = await s.done;
      expect(r.code, r.err).toBe(0);
    }
    for (const s of sinks) expect((await s.done).code).toBe(0);
    retransAfter = retransSegs(lab, A);
    txDrops = lab.exec(A, 'ip', ['-s', '-j', 'link', 'show', 'dev', aDev]);
    // Every packet of the transfers is in the captures by now: stop them.
    stopGroup(whole.child);
    // Only tcpdump itself: its -z runs (same process group) must finish their files.
    rot.child.kill('SIGINT');
    const w = await whole.done;
    await rot.done;
    // The capture itself lost nothing (else a capture drop would look like loss).
    expect(w.err, 'tcpdump statistics').toMatch(/\b0 packets dropped by kernel/);
    // Let the live tracer flush its last window, then stop it.
    await sleep(1500);
    expect(await live.stop()).toBe(0);
    liveRecords = live.json();

    cut64 = join(dir, 'cut64.pcap');
    execFileSync('editcap', ['-F', 'pcap', '-s', '64', full, cut64]);
    const r = await runDroptrace(['pcap', '--json', full], { env: { DROPTRACE_CONFIG: '' } });
    expect(r.code, r.stderr).toBe(0);
    records = parse(r.stdout);
  }, 120_000);

  afterAll(() => {
    live?.cleanup();
    lab.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('per flow, direction and category: within 5 % (or ±2) of tshark on the -s 128 capture', () => {
    const ours = droptraceCounts(records);
    const theirs = tsharkCounts(full);
    const c = compare(ours, theirs, 0.05, 2);
    console.log(`droptrace vs tshark (${full}):\n${c.table}`);
    expect(c.failures).toEqual([]);
    // The drops happened: tshark sees retransmissions in each lossy scenario's
    // data direction, more than 10 over both. (With data and ACKs both dropped
    // the "both" flow backs off to a few RTOs in its 3 s — 4 in one CI run —
    // so a per-flow floor of 10 tested the workload's luck, not droptrace.)
    const seen = (['data', 'both'] as const).map((k) => {
      const t = ofFlow(theirs, flowKey(k));
      const n = total(t, 'retransmission') + total(t, 'fast_retransmission') + total(t, 'out_of_order');
      expect(n, k).toBeGreaterThan(0);
      return n;
    });
    expect(seen[0] + seen[1]).toBeGreaterThan(10);
    expect(lab.nftCounter(A, 'dtest', 'ack10')).toBeGreaterThan(10);
    // Drops were after the capture point (B's input): the capture saw every
    // original, so data-path loss is downstream, no hole upstream.
    const dataRetx = records.filter((r) => r.source?.port === SPORT.data && ['tcp-retransmit', 'tcp-fast-retransmit', 'tcp-out-of-order'].includes(r.event.action));
    const sides = new Map<string, number>();
    for (const r of dataRetx) sides.set(r.droptrace.pcap.loss_side, (sides.get(r.droptrace.pcap.loss_side) ?? 0) + r.droptrace.count);
    expect(sides.get('downstream') ?? 0, JSON.stringify([...sides])).toBeGreaterThan(10);
    expect(sides.get('upstream') ?? 0).toBe(0);
  });

  it('the -s 64 copy (TCP options cut; tshark flags nothing): counts within 5 % of the full capture, and says so', async () => {
    const theirs64 = tsharkCounts(cut64);
    const r = await runDroptrace(['pcap', '--json', cut64], { env: { DROPTRACE_CONFIG: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/TCP options cut by the snapshot length.*capture with -s 128 or more/);
    const ours64 = droptraceCounts(parse(r.stdout));
    // window_full needs the window scale from the SYN options: not comparable.
    const drop = (m: Counts) => new Map([...m].filter(([k]) => !k.endsWith(' window_full')));
    const c = compare(drop(ours64), drop(droptraceCounts(records)), 0.05, 2);
    console.log(`droptrace -s 64 vs droptrace -s 128 (tshark on -s 64 flagged ${total(theirs64)}):\n${c.table}`);
    expect(c.failures).toEqual([]);
    expect(total(ours64)).toBeGreaterThan(50);
  });

  it('retransmissions in the capture match the live tracer\'s for the same flow and direction', () => {
    const key = flowKey('data');
    const mine = (rs: Array<Record<string, any>>) => rs.filter((r) => r.event?.dataset === 'droptrace.flows' && !r.droptrace.flow?.final && `${r.source?.ip}:${r.source?.port}>${r.destination?.ip}:${r.destination?.port}` === key);
    const pcap = mine(records).filter((r) => ['tcp-retransmit', 'tcp-fast-retransmit', 'tcp-spurious-retransmit', 'tcp-out-of-order'].includes(r.event.action));
    const lv = mine(liveRecords).filter((r) => ['tcp-retransmit', 'tcp-loss-probe'].includes(r.event.action));
    const sum = (rs: Array<Record<string, any>>, f: 'count' | 'bytes' | 'segments') => rs.reduce((n, r) => n + Number(r.droptrace[f] ?? 0), 0);
    const [pSeg, pBytes, lSkb, lSeg, lBytes] = [sum(pcap, 'count'), sum(pcap, 'bytes'), sum(lv, 'count'), sum(lv, 'segments'), sum(lv, 'bytes')];
    // And the kernel's own count for everything A retransmitted (all three flows).
    const fromA = records.filter((r) => r.source?.ip === A_IP && ['tcp-retransmit', 'tcp-fast-retransmit', 'tcp-spurious-retransmit', 'tcp-out-of-order'].includes(r.event.action));
    const kernel = retransAfter - retransBefore;
    // Independent of any analysis: segments from A whose (seq, len) the capture already held.
    const seen = new Set<string>();
    let repeats = 0;
    for (const l of execFileSync('tshark', ['-n', '-r', full, '-Y', `ip.src == ${A_IP}`, '-T', 'fields', '-e', 'tcp.stream', '-e', 'tcp.seq_raw', '-e', 'tcp.len', '-e', 'tcp.flags.syn', '-e', 'tcp.flags.fin'], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n')) {
      const [st, seq, len, syn, fin] = l.split('\t');
      if (!l || (len === '0' && syn !== '1' && fin !== '1')) continue;
      const k = `${st}|${seq}|${len}`;
      if (seen.has(k)) repeats++;
      seen.add(k);
    }
    console.log(`retransmissions A → B:${PORTS.data}: capture ${pSeg} segments / ${pBytes} bytes; live tracer ${lSeg} segments in ${lSkb} skbs / ${lBytes} bytes (nft dropped ${lab.nftCounter(B, 'dtest', 'data10')} packets of both lossy flows); all of A's: capture ${sum(fromA, 'count')} segments, kernel Tcp.RetransSegs ${kernel}, exact repeats in the capture ${repeats}; A's veth tx dropped ${JSON.parse(txDrops)[0]?.stats64?.tx?.dropped}`);
    expect(lSkb).toBeGreaterThan(10);
    // The kernel retransmits skbs that may hold several segments (software
    // GSO splits them on the way out): the live records count both.
    const within = (capture: number, kernelSide: number, what: string) => {
      expect(capture, `${what}: capture ${capture} > ${kernelSide}`).toBeLessThanOrEqual(kernelSide + 3);
      expect(capture, `${what}: capture ${capture} < 92 % of ${kernelSide}`).toBeGreaterThanOrEqual(Math.floor(0.92 * kernelSide));
    };
    // droptrace counts exactly the retransmissions the capture holds.
    expect(sum(fromA, 'count'), 'droptrace vs the exact repeats in the capture').toBe(repeats);
    // Against the live tracer on the same transfer. Observed spread over 20
    // runs: the live tracer from 3 % below the capture (1271 vs 1305
    // segments) to 10 % above it (1682 vs 1520, in a run where the capture
    // matched Tcp.RetransSegs to one segment, so the live records exceeded
    // the kernel's own count; reported to the lead): within 15 %.
    expect(Math.abs(pSeg - lSeg), `segments: capture ${pSeg}, live ${lSeg}`).toBeLessThanOrEqual(Math.max(3, 0.15 * lSeg));
    expect(Math.abs(pBytes - lBytes), `bytes: capture ${pBytes}, live ${lBytes}`).toBeLessThanOrEqual(Math.max(3 * 1448, 0.15 * lBytes));
    // Against the kernel: the capture never holds more retransmissions than
    // Tcp.RetransSegs; it has held up to 4 % fewer (2317 vs 2414) with no
    // drop reported by tcpdump or the veth: bounded below at 92 %.
    within(sum(fromA, 'count'), kernel, "all of A's vs Tcp.RetransSegs");
  });

  it('tcpdump -C/-W/-z: every rotated file analysed once, counts equal to the whole capture', async () => {
    const dumps = readdirSync(rotDir).filter((n) => n.startsWith('dump'));
    expect(dumps.length).toBeGreaterThan(2);
    const statsFile = join(outDir, 'stats.ndjson');
    // tcpdump does not wait for its -z children: wait until each file has its per-file record.
    const fileRecs = () => (existsSync(statsFile) ? parse(readFileSync(statsFile, 'utf8')).filter((r) => r.event.action === 'pcap-file') : []);
    // Boundary case: tcpdump runs -z only on the files it rotates away from,
    // not on the one it is writing when it stops: that one is analysed here,
    // as an operator does at shutdown (the lock orders it after the others).
    await until(`${dumps.length - 1} analysed files`, () => fileRecs().filter((r) => !r.droptrace.pcap.duplicate).length >= dumps.length - 1, 60_000).catch((e) => {
      throw new Error(`${e.message}; analysed: ${fileRecs().map((r) => r.file.path).join(' ')}; tcpdump and -z stderr:\n${rotErr()}`);
    });
    const last = join(rotDir, dumps.sort().at(-1)!);
    expect(fileRecs().map((r) => r.file.path)).not.toContain(last);
    const z = await runDroptrace([last], { cli: PCAP_BIN, env: { DROPTRACE_CONFIG: join(dir, 'droptrace.yaml') } });
    expect(z.code, z.stderr).toBe(0);
    // A run that finds its file already analysed (by an earlier run catching
    // up the rotation in order) records it as a duplicate: each file is analysed once.
    const per = fileRecs().filter((r) => !r.droptrace.pcap.duplicate);
    expect(per.map((r) => r.file.path).sort()).toEqual(dumps.map((n) => join(rotDir, n)).sort());
    expect(per.every((r) => r.event.outcome === 'success')).toBe(true);
    const rotated = droptraceCounts(parse(readFileSync(join(outDir, 'flows.ndjson'), 'utf8')));
    // The whole capture: the rotated files joined into one (the separate
    // full.pcap capture has its own packet timestamps, which can move a
    // segment across the out-of-order time threshold).
    const merged = join(dir, 'merged.pcap');
    execFileSync('mergecap', ['-a', '-F', 'pcap', '-w', merged, ...dumps.sort().map((n) => join(rotDir, n))]);
    const m = await runDroptrace(['pcap', '--json', merged], { env: { DROPTRACE_CONFIG: '' } });
    expect(m.code, m.stderr).toBe(0);
    const c = compare(rotated, droptraceCounts(parse(m.stdout)), 0, 0);
    console.log(`rotated files (${dumps.length}, each by its own tcpdump -z run) vs the same files as one capture:\n${c.table}`);
    expect(c.failures).toEqual([]);
    expect(total(rotated)).toBeGreaterThan(100);
    // Analysing a file again is recognised as the same content: nothing new.
    const again = await runDroptrace(['pcap', join(rotDir, dumps[1])], { env: { DROPTRACE_CONFIG: join(dir, 'droptrace.yaml') } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/already analysed/);
  });
});
