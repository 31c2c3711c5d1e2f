// Live: outgoing loss, checked against the sender's own kernel counters.
// A TCP transfer A → B:port through a random nft drop on B's input; `droptrace
// run` must report the sender's retransmits with the exact 4-tuple, typed the
// way the kernel counts them (in its unit: segments):
//   Σ segments        = Δ Tcp.RetransSegs − Δ TCPRetransFail (RetransSegs also
//                       counts attempts that failed in the IP layer; droptrace
//                       counts retransmits that went out)
//   fast segments     = Δ TCPFastRetrans (tcp_xmit_retransmit_queue outside Loss,
//                       counted after a successful send)
//   rto + syn         = Δ TCPTimeouts + Δ TCPSlowStartRetrans (timer firings, and
//                       the slow-start retransmits in Loss after them), within 2:
//                       TCPTimeouts counts the firing before the attempt, also
//                       one that sends nothing because the previous copy is still
//                       queued on the host (-EBUSY, counted nowhere else) —
//                       rare on a veth (seen 0 times in the loops of this file)
//   tlp               ≤ Δ TCPLossProbes (which also counts probes of new data)
// With TSO/GSO/GRO off one packet is one segment, so nft counts segments too;
// one test keeps offloads on, where one retransmitted skb may carry several
// segments (droptrace.count stays skbs, droptrace.segments follows the kernel).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, nstat, nstatDelta, offloadsOff, spawnIn, sh } from '../helpers/netns.js';
import { startDroptrace } from '../helpers/droptrace-process.js';
import { finalStats, expectNoSelfLoss, missedBy } from '../helpers/self-stats.js';
import { programRuns, startWitness, type Witness } from '../helpers/tracepoint-witness.js';

const A_IP = '10.214.1.1';
const B_IP = '10.214.1.2';

/** Sink: prints "listening", then the bytes received when the peer closes. argv: ip port */
const PY_SINK = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print('listening', flush=True)
c, _ = s.accept(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
c.close()
print(n, flush=True)
`;

/**
 * Sender from a fixed source port: \`n\` writes of \`size\` bytes \`gap\` s apart,
 * \`idle\` s of silence (so the last data is a tail: no FIN right behind it to
 * reveal its loss), then a clean close. argv: dst port sport n size gap idle
 */
const PY_SEND = `
import socket, sys, time
dst, port, sport, n, size, gap, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', sport)); s.settimeout(60)
s.connect((dst, port))
for i in range(n):
    s.sendall(b'x' * size)
    if gap: time.sleep(gap)
time.sleep(idle)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print(n * size, flush=True)
`;

const sumOf = (rs: any[], f: (r: any) => number) => rs.reduce((n, r) => n + f(r), 0);
const segs = (r: any) => Number(r.droptrace.segments ?? r.droptrace.count);
const flowsOf = (rs: any[]) => rs.filter((r) => r.event?.dataset === 'droptrace.flows' && !r.droptrace.flow?.final && !r.droptrace.overflow);

describe('retransmits against the sender\'s kernel counters (run --json)', () => {
  const lab = new Lab();
  let A: string, B: string, aDev: string, bDev: string;

  beforeAll(() => {
    A = lab.ns('A');
    B = lab.ns('B');
    ({ aDev, bDev } = lab.link(A, `${A_IP}/24`, B, `${B_IP}/24`, `${lab.prefix}t`));
    lab.nft(B, `table inet dtest {
      chain c_in { type filter hook input priority 0;
        tcp dport 40631 numgen random mod 10 0 counter drop comment "rand10-segments";
        tcp dport 40632 numgen random mod 10 0 counter drop comment "rand10-offloads";
        tcp dport 40633 ip length 552 quota until 552 bytes counter drop comment "tail"; }
    }`);
  });

  afterAll(() => lab.cleanup());

  /**
   * Sockets on `port` in either namespace that can still send (anything but
   * TIME-WAIT): A's until its FIN is acknowledged, B's (LAST-ACK) until A's
   * last ACK arrives. Until both are gone the nft rule may still drop A's
   * final ACKs (B retransmits its FIN, A's TIME-WAIT socket answers), drops
   * the kernel counts while droptrace, stopped, cannot see them.
   */
  function stillSending(port: number): boolean {
    return [A, B].some((ns) => sh('ip', ['netns', 'exec', ns, 'ss', '-Htan', `( sport = :${port} or dport = :${port} )`])
      .split('\n').some((l) => l.trim() && !/^(TIME-WAIT|LISTEN)/.test(l.trim())));
  }

  /** What the kernel's tracer recorded of one event, and how often the kernel ran droptrace's program for it. */
  interface Witnessed { fired: string[]; runs: number; misses: number; unrun: number }
  interface Seen { retrans: Witnessed; drops: Witnessed }

  /** One transfer; returns A's and B's counter deltas over it and droptrace's records. */
  async function transfer(port: number, sport: number, n: number, size: number, gap: number, idle = 0, witnessed = false) {
    // Our two namespaces only: other tests on this host may use the same port.
    const dt = startDroptrace(['run', '--json', '--interval', '1', '--filter-port', String(port), '--filter-netns', String(lab.netnsInode(A)), '--filter-netns', String(lab.netnsInode(B))]);
    let witness: Witness | undefined;
    try {
      const ready = await dt.ready();
      const a0 = nstat(A);
      const b0 = nstat(B);
      // The kernel's own record of every firing, and how often it ran our program (see the helper).
      witness = witnessed ? startWitness(['tcp/tcp_retransmit_skb', 'skb/kfree_skb']) : undefined;
      const runsNow = () => ({ retrans: programRuns(dt.child.pid!, 'tcp_retransmit_skb'), drops: programRuns(dt.child.pid!, 'kfree_skb') });
      const runs0 = witness ? runsNow() : undefined;
      const sink = spawnIn(B, 'python3', ['-c', PY_SINK, B_IP, String(port)]);
      await sink.waitFor('listening');
      const sender = spawnIn(A, 'python3', ['-c', PY_SEND, B_IP, String(port), String(sport), String(n), String(size), String(gap), String(idle)]);
      const sent = await sender.done;
      const got = await sink.done;
      expect(sent.code, sent.err).toBe(0);
      expect(Number(got.out.trim().split('\n').pop())).toBe(n * size);
      // Counters are read once neither side can send on this port any more.
      const t0 = Date.now();
      while (stillSending(port)) {
        if (Date.now() - t0 > 30_000) throw new Error('a socket on the port stayed open for 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      const a = nstatDelta(a0, nstat(A));
      const b = nstatDelta(b0, nstat(B));
      let seen: Seen | undefined;
      if (witness && runs0) {
        const runs1 = runsNow();
        expect([runs1.retrans.programs, runs1.drops.programs]).toEqual([1, 1]);
        const lines = witness.stop();
        const of = (event: string, k: 'retrans' | 'drops') => {
          const fired = lines.filter((l) => l.includes(` ${event}: `));
          const runs = runs1[k].runs - runs0[k].runs;
          const misses = runs1[k].misses - runs0[k].misses;
          // Firings (any socket or packet) the kernel ran no program of ours for.
          return { fired, runs, misses, unrun: Math.max(0, fired.length - runs - misses) };
        };
        seen = { retrans: of('tcp_retransmit_skb', 'retrans'), drops: of('kfree_skb', 'drops') };
      }
      expect(await dt.stop()).toBe(0);
      const all = dt.json();
      return { a, b, all, stats: finalStats(all), ready, seen };
    } finally {
      witness?.close();
      dt.cleanup();
    }
  }

  /** The records of A's retransmits (and loss probes) for the A → B:port flow. */
  function ofA(all: any[], port: number, sport: number) {
    const recs = flowsOf(all).filter((r) => r.event.action === 'tcp-retransmit' || r.event.action === 'tcp-loss-probe');
    const mine = recs.filter((r) => r.destination?.port === port);
    for (const r of mine) {
      expect(r.source).toEqual({ ip: A_IP, port: sport });
      expect(r.destination).toEqual({ ip: B_IP, port });
      expect(r.network).toEqual({ type: 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' });
      expect(r.droptrace.path).toBe('local-out');
      expect(r.droptrace.netns.inode).toBe(lab.netnsInode(A));
      expect(r.event.reason).toBe(r.droptrace.retransmit.type);
    }
    // Anything else is B's own control retransmits (its FIN when A's ACK of it was dropped): B → A, never merged into A → B.
    for (const r of recs.filter((x) => x.destination?.port !== port)) {
      expect(r.source).toEqual({ ip: B_IP, port });
      expect(r.droptrace.netns.inode).toBe(lab.netnsInode(B));
    }
    const byType = (t: string) => mine.filter((r) => r.droptrace.retransmit.type === t);
    return { mine, byType };
  }

  it('offloads off, 10 % random loss: skbs = the kernel tracer\'s firings, segments = RetransSegs − RetransFail and fast = TCPFastRetrans exactly (short only by firings the kernel ran no BPF program for), rto + syn = TCPTimeouts + TCPSlowStartRetrans (±2); drops = nft counter; coverage records add up to RetransSegs', async () => {
    offloadsOff(A, aDev);
    offloadsOff(B, bDev);
    try {
      const { a, b, all, stats, seen } = await transfer(40631, 45631, 1500, 1000, 0.002, 0, true);
      expectNoSelfLoss(stats);
      const dropped = lab.nftCounter(B, 'dtest', 'rand10-segments');
      expect(dropped).toBeGreaterThan(50);
      const { mine, byType } = ofA(all, 40631, 45631);
      const missed = missedBy(stats, 'retransmits');
      const failed = a.TcpExtTCPRetransFail ?? 0;
      // The kernel's tracer: A's firings that sent their skb (err 0); and the
      // firings (any socket) the kernel ran no program of ours for.
      const fired = seen!.retrans.fired.filter((l) => / sport=45631 dport=40631 /.test(l) && / err=0$/.test(l)).length;
      const unrun = seen!.retrans.unrun;
      const traced = sumOf(mine, (r) => r.droptrace.count);
      const segGap = a.TcpRetransSegs - failed - sumOf(mine, segs);
      const detail = JSON.stringify({ kernel: { RetransSegs: a.TcpRetransSegs, TCPFastRetrans: a.TcpExtTCPFastRetrans, TCPTimeouts: a.TcpExtTCPTimeouts, TCPSlowStartRetrans: a.TcpExtTCPSlowStartRetrans, TCPLossProbes: a.TcpExtTCPLossProbes, TCPRetransFail: failed }, tracer: { fired, all: seen!.retrans.fired.length, bpfRuns: seen!.retrans.runs, bpfMisses: seen!.retrans.misses, unrun, drops: { fired: seen!.drops.fired.length, bpfRuns: seen!.drops.runs, bpfMisses: seen!.drops.misses, unrun: seen!.drops.unrun } }, traced: Object.fromEntries(['fast', 'rto', 'tlp', 'syn', 'unknown'].map((t) => [t, sumOf(byType(t), segs)])), skbs: traced, missed });
      // Skbs: every firing the kernel ran our program for is in droptrace's
      // records; the ones it did not run it for (seen on this kernel, rarely,
      // in softirq context, with no recursion miss counted) are all droptrace
      // cannot see. Without them, droptrace's count is the tracer's, exactly.
      console.log(`retransmits vs the kernel: ${detail}`);
      expect(traced, detail).toBeLessThanOrEqual(fired);
      expect(fired - traced, detail).toBeLessThanOrEqual(unrun + missed);
      // Segments, the kernel's unit: RetransSegs − RetransFail exactly when
      // droptrace saw every firing; otherwise short by what it could not see
      // (each unseen skb carries at least one segment, at most a GSO skb's 64)
      // — and the kernel-coverage records show that shortfall.
      // (TCP builds GSO skbs whatever the device offers — software GSO — so a
      // retransmitted skb can still hold several segments: nft, on B's input,
      // counts the segments the device cut.)
      if (fired === traced) expect(segGap, detail).toBe(0);
      else {
        expect(segGap, detail).toBeGreaterThanOrEqual(fired - traced);
        expect(segGap, detail).toBeLessThanOrEqual((fired - traced) * 64);
      }
      expect(sumOf(byType('fast'), segs), detail).toBeGreaterThan(0);
      expect(a.TcpExtTCPFastRetrans - sumOf(byType('fast'), segs), detail).toBeGreaterThanOrEqual(0);
      expect(a.TcpExtTCPFastRetrans - sumOf(byType('fast'), segs), detail).toBeLessThanOrEqual(segGap);
      const timeouts = a.TcpExtTCPTimeouts + a.TcpExtTCPSlowStartRetrans;
      const rto = sumOf(byType('rto'), segs) + sumOf(byType('syn'), segs);
      expect(timeouts - rto, detail).toBeGreaterThanOrEqual(0);
      // (+ the unseen segments that were not fast ones)
      expect(timeouts - rto, detail).toBeLessThanOrEqual(missed + failed + 2 + segGap - (a.TcpExtTCPFastRetrans - sumOf(byType('fast'), segs)));
      expect(sumOf(byType('tlp'), (r) => r.droptrace.count), detail).toBeLessThanOrEqual(a.TcpExtTCPLossProbes);
      expect(byType('unknown'), detail).toEqual([]);
      // The drops themselves, at B: the nft rule's, exactly, all A → B, ingress, local-in.
      const drops = flowsOf(all).filter((r) => r.event.action === 'packet-dropped' && r.destination?.port === 40631);
      const nftDrops = drops.filter((r) => r.event.reason === 'NETFILTER_DROP');
      // (The same kernel gap as for retransmits: kfree_skb firings the kernel ran no program for.)
      expect(dropped - sumOf(nftDrops, (r) => r.droptrace.count), detail).toBeGreaterThanOrEqual(0);
      expect(dropped - sumOf(nftDrops, (r) => r.droptrace.count), detail).toBeLessThanOrEqual(missedBy(stats, 'drops') + seen!.drops.unrun);
      for (const d of drops) {
        expect(d.source).toEqual({ ip: A_IP, port: 45631 });
        expect(d.network.direction).toBe('ingress');
        // Every drop here is of a packet for B: the rule's, and B's own TCP
        // drops (e.g. TCP_OLD_DATA of a spurious retransmit) freed without a route.
        expect(d.droptrace.path, `${d.event.reason} at ${d.droptrace.drop.location.symbol}`).toBe('local-in');
        expect(d.droptrace.netns.inode).toBe(lab.netnsInode(B));
      }
      // Receiver side: each hole is opened by a segment the kernel then queues out of order
      // (TCPOFOQueue counts every queued segment, droptrace the holes: holes ≤ queued).
      const holes = sumOf(flowsOf(all).filter((r) => r.event.action === 'tcp-incoming-out-of-order'), (r) => r.droptrace.count);
      expect(holes).toBeGreaterThan(0);
      expect(holes).toBeLessThanOrEqual(b.TcpExtTCPOFOQueue);
      // The kernel-coverage records of A's namespace, over the whole run (its
      // counters were baselined before ready: --filter-netns names it), show
      // the kernel's figure and droptrace's, so any shortfall is on record.
      const cov = all.filter((r) => r.event?.action === 'kernel-coverage' && r.droptrace.netns.inode === lab.netnsInode(A));
      expect(cov.length).toBeGreaterThan(0);
      expect(sumOf(cov, (r) => r.droptrace.coverage.retransmits.kernel), detail).toBe(a.TcpRetransSegs);
      expect(sumOf(cov, (r) => r.droptrace.coverage.retransmits.traced), detail).toBe(sumOf(mine, segs));
    } finally {
      sh('ip', ['netns', 'exec', A, 'ethtool', '-K', aDev, 'tso', 'on', 'gso', 'on', 'gro', 'on']);
      sh('ip', ['netns', 'exec', B, 'ethtool', '-K', bDev, 'tso', 'on', 'gso', 'on', 'gro', 'on']);
    }
  });

  it('offloads on: a retransmitted skb may carry several segments — segments within 10 % of RetransSegs, occurrences never more', async () => {
    // Bigger writes, so the stack builds multi-segment (TSO) skbs.
    const { a, all, stats } = await transfer(40632, 45632, 300, 16384, 0.001);
    expectNoSelfLoss(stats);
    const { mine, byType } = ofA(all, 40632, 45632);
    const total = sumOf(mine, segs);
    const detail = JSON.stringify({ RetransSegs: a.TcpRetransSegs, TCPFastRetrans: a.TcpExtTCPFastRetrans, segments: total, occurrences: sumOf(mine, (r) => r.droptrace.count) });
    expect(a.TcpRetransSegs).toBeGreaterThan(20);
    expect(Math.abs(total - (a.TcpRetransSegs - (a.TcpExtTCPRetransFail ?? 0))), detail).toBeLessThanOrEqual(0.1 * a.TcpRetransSegs);
    expect(sumOf(mine, (r) => r.droptrace.count), detail).toBeLessThanOrEqual(total);
    expect(Math.abs(sumOf(byType('fast'), segs) - a.TcpExtTCPFastRetrans), detail).toBeLessThanOrEqual(Math.max(3, 0.1 * a.TcpExtTCPFastRetrans));
  });

  it('a tail loss (the last segment of a short burst dropped once) is repaired by a tail-loss probe, and traced as one', async () => {
    offloadsOff(A, aDev);
    offloadsOff(B, bDev);
    try {
      // 10 full segments and a 500-byte tail (IP length 552) in one write; the rule drops the tail once.
      const { a, all, stats, ready } = await transfer(40633, 45633, 1, 10 * 1448 + 500, 0, 1);
      expectNoSelfLoss(stats);
      expect(lab.nftCounter(B, 'dtest', 'tail')).toBe(1);
      expect(a.TcpExtTCPLossProbes).toBe(1);
      expect(a.TcpRetransSegs).toBe(1);
      const { mine } = ofA(all, 40633, 45633);
      const observed = ready.signals.some((s: any) => s.signal === 'loss-probes' && s.variant !== 'inferred');
      // The probe's retransmitted segment: Open state with the loss-probe timer pending.
      const probes = mine.filter((r) => r.droptrace.retransmit.type === 'tlp');
      expect(mine.map((r) => [r.event.action, r.droptrace.retransmit.type, r.droptrace.count, r.droptrace.segments])).toEqual(
        observed
          ? expect.arrayContaining([['tcp-retransmit', 'tlp', 1, 1], ['tcp-loss-probe', 'tlp', 1, 1]])
          : [['tcp-loss-probe', 'tlp', 1, 1]],
      );
      if (!observed) expect(probes[0].droptrace.retransmit.tlp_source).toBe('inferred');
    } finally {
      sh('ip', ['netns', 'exec', A, 'ethtool', '-K', aDev, 'tso', 'on', 'gso', 'on', 'gro', 'on']);
      sh('ip', ['netns', 'exec', B, 'ethtool', '-K', bDev, 'tso', 'on', 'gso', 'on', 'gro', 'on']);
    }
  });
});
