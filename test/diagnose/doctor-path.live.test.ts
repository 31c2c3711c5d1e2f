// Live: causes below and beyond the socket layer — neighbour (ARP) failure,
// no route, qdisc overflow — and loss between hosts: data lost on the path in
// each direction, and ACKs lost on the way back. A router namespace R between
// A and C drops packets (nft numgen); the doctor traces only A and C, so to it
// the loss is on the path, as it would be between two real hosts.
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Lab } from '../helpers/netns.js';
import { doctor, findingsOf, describe, evidence, fault, server, background, kernelCounters, counterDelta, type DoctorRun } from '../helpers/doctor.js';

/** Host-wide neighbour-table discards (arp_cache: one table for every namespace). */
function arpDiscards(): number {
  const lines = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n');
  const col = lines[0].trim().split(/\s+/).indexOf('unresolved_discards');
  return lines.slice(1).reduce((s, l) => s + parseInt(l.trim().split(/\s+/)[col], 16), 0);
}

suite('doctor: neighbour failure, no route, qdisc overflow', () => {
  const lab = new Lab();
  let A: string, B: string, Q: string, Q2: string, A2: string, R: string;
  let run: DoctorRun;
  let before: Map<string, Map<string, number>>, after: Map<string, Map<string, number>>;
  let arp0 = 0, arp1 = 0;

  beforeAll(async () => {
    A = lab.ns('A');
    B = lab.ns('B');
    lab.link(A, '10.248.1.1/24', B, '10.248.1.2/24', `${lab.prefix}n`);
    Q = lab.ns('Q');
    Q2 = lab.ns('Q2');
    lab.link(Q, '10.248.2.1/24', Q2, '10.248.2.2/24', `${lab.prefix}q`);
    lab.exec(Q, 'tc', ['qdisc', 'add', 'dev', `${lab.prefix}qa`, 'root', 'tbf', 'rate', '1mbit', 'burst', '10k', 'limit', '20k']);
    A2 = lab.ns('A2');
    R = lab.ns('R');
    lab.link(A2, '10.248.3.1/24', R, '10.248.3.254/24', `${lab.prefix}r`);
    lab.exec(A2, 'ip', ['route', 'add', 'default', 'via', '10.248.3.254']);
    lab.exec(R, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const sink = await server(Q2, 'udp-slow-reader', '10.248.2.2', 6100, 1_000_000);
    const all = [A, B, Q, Q2, A2, R];
    before = new Map(all.map((n) => [n, kernelCounters(n)]));
    arp0 = arpDiscards();
    try {
      run = await doctor(['--duration', '4', ...all.flatMap((n) => ['--filter-netns', n])], () => {
        // 10.248.1.77 is on A's link but nobody has it: ARP never resolves.
        fault(A, 'udp-send', '10.248.1.77', 6002, 400, 1000, 46000, 0.001);
        fault(Q, 'udp-send', '10.248.2.2', 6100, 2000, 1000, 46001, 0);
        // R forwards, but has no route to 10.248.9.0/24.
        fault(A2, 'udp-send', '10.248.9.9', 6003, 40, 100, 46002, 0.01);
      });
    } finally {
      sink.stop();
    }
    arp1 = arpDiscards();
    after = new Map(all.map((n) => [n, kernelCounters(n)]));
  }, 180_000);

  afterAll(() => lab.cleanup());

  it('neighbour failure: the unresolved next hop, egress, host-wide discards counted', () => {
    expect(run.code, describe(run)).toBe(0);
    const f = findingsOf(run, 'neighbour-failure', lab.netnsInode(A))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toEqual({ ip: '10.248.1.1', port: 46000 });
    expect(f.destination).toEqual({ ip: '10.248.1.77', port: 6002 });
    expect(f.network).toMatchObject({ transport: 'udp', direction: 'egress' });
    const drops = evidence(f, 'drops', 'NEIGH_')!;
    expect(drops.value).toBeGreaterThan(0);
    const c = evidence(f, 'counter', 'neigh.arp_cache.unresolved_discards')!;
    // The table is shared by every namespace: its delta covers at least our drops.
    expect(c.delta).toBeGreaterThanOrEqual(Number(drops.value));
    expect(c.delta).toBeLessThanOrEqual(arp1 - arp0);
    expect(evidence(f, 'neighbour', 'neighbour 10.248.1.77')).toBeDefined();
  });

  it('no route: forwarded packets in the router, InNoRoutes delta = kernel', () => {
    const f = findingsOf(run, 'no-route', lab.netnsInode(R))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toEqual({ ip: '10.248.3.1', port: 46002 });
    expect(f.destination).toEqual({ ip: '10.248.9.9', port: 6003 });
    expect(f.network.direction).toBe('ingress');
    const k = counterDelta(before.get(R)!, after.get(R)!, 'IpExt.InNoRoutes');
    expect(k).toBe(40);
    expect(evidence(f, 'counter', 'IpExt.InNoRoutes')!.delta).toBe(k);
    expect(evidence(f, 'route', 'ip route get 10.248.9.9')!.value).toMatch(/unreachable/i);
  });

  it('qdisc overflow: the shaper on the sender\'s interface, its drop counter = tc\'s', () => {
    const f = findingsOf(run, 'qdisc-overflow', lab.netnsInode(Q))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.destination).toEqual({ ip: '10.248.2.2', port: 6100 });
    expect(f.network).toMatchObject({ transport: 'udp', direction: 'egress' });
    const tc = JSON.parse(lab.exec(Q, 'tc', ['-s', '-j', 'qdisc', 'show', 'dev', `${lab.prefix}qa`])) as Array<{ kind: string; drops: number }>;
    const k = tc.find((q) => q.kind === 'tbf')!.drops;
    expect(k).toBeGreaterThan(100);
    expect(evidence(f, 'counter', `qdisc.drops (${lab.prefix}qa tbf`)!.delta).toBe(k);
    expect(evidence(f, 'drops', 'QDISC_DROP')!.value).toBe(k);
    expect(evidence(f, 'qdisc', 'tbf')).toBeDefined();
    // The sender's ENOBUFS echoes are part of it, not separate findings.
    expect(run.findings.filter((x) => x.droptrace.netns?.inode === lab.netnsInode(Q) && !['qdisc-overflow', 'noise'].includes(x.droptrace.finding.cause)).map((x) => x.droptrace.finding.cause)).toEqual([]);
  });
});

suite('doctor: loss between hosts (data each way, ACKs back)', () => {
  const lab = new Lab();
  let A: string, R: string, C: string;
  let run: DoctorRun;
  let before: Map<string, Map<string, number>>, after: Map<string, Map<string, number>>;

  beforeAll(async () => {
    A = lab.ns('A');
    R = lab.ns('R');
    C = lab.ns('C');
    lab.link(A, '10.249.1.1/24', R, '10.249.1.254/24', `${lab.prefix}a`);
    lab.link(R, '10.249.2.254/24', C, '10.249.2.2/24', `${lab.prefix}c`);
    lab.exec(A, 'ip', ['route', 'add', 'default', 'via', '10.249.1.254']);
    lab.exec(C, 'ip', ['route', 'add', 'default', 'via', '10.249.2.254']);
    lab.exec(R, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    lab.nft(R, `table inet loss {
  chain c_fwd {
    type filter hook forward priority 0;
    tcp dport 7000 meta length > 200 numgen random mod 20 0 counter drop comment "data-a-to-c"
    tcp sport 7002 meta length > 200 numgen random mod 20 0 counter drop comment "data-c-to-a"
    tcp sport 7001 tcp flags & (syn|fin|rst) == 0 meta length < 100 numgen random mod 10 < 7 counter drop comment "acks-c-to-a"
  }
}
`);
    const sink0 = await server(C, 'tcp-sink', '10.249.2.2', 7000);
    const sink1 = await server(C, 'tcp-sink', '10.249.2.2', 7001);
    const push = await server(C, 'tcp-serve-push', '10.249.2.2', 7002, 3);
    before = new Map([A, C].map((n) => [n, kernelCounters(n)]));
    try {
      // The ACK-loss connection ends with a reset, so no retransmit (and no
      // DelayedACKLost at C) happens after the doctor's window.
      run = await doctor(['--duration', '6', '--filter-netns', A, '--filter-netns', C], async () => {
        const jobs = [
          background(A, 'tcp-push', '10.249.2.2', 7000, 3, 0),
          background(A, 'tcp-push', '10.249.2.2', 7001, 3.5, 0, 1),
          background(A, 'tcp-pull', '10.249.2.2', 7002),
        ];
        await Promise.all(jobs.map((j) => j.done));
      });
    } finally {
      for (const s of [sink0, sink1, push]) s.stop();
    }
    after = new Map([A, C].map((n) => [n, kernelCounters(n)]));
  }, 180_000);

  afterAll(() => lab.cleanup());

  const byDst = (cause: string, port: number) => run.findings.filter((f) => f.droptrace.finding.cause === cause && (f.destination?.port === port || f.source?.port === port));

  it('data lost from A to C: path-loss in that direction, seen by both ends', () => {
    expect(run.code, describe(run)).toBe(0);
    const f = byDst('path-loss', 7000)[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source.ip).toBe('10.249.1.1');
    expect(f.destination).toEqual({ ip: '10.249.2.2', port: 7000 });
    expect(f.network).toMatchObject({ transport: 'tcp', direction: 'egress' });
    expect(f.droptrace.netns.inode).toBe(lab.netnsInode(A));
    expect(f.droptrace.finding.confidence).toBe('high');
    expect(evidence(f, 'retransmits', 'retransmits')!.value).toBeGreaterThan(0);
    expect(evidence(f, 'incoming', 'hole-filling')!.value).toBeGreaterThan(0);
    expect(lab.nftCounter(R, 'loss', 'data-a-to-c')).toBeGreaterThan(0);
    const k = counterDelta(before.get(A)!, after.get(A)!, 'Tcp.RetransSegs');
    expect(evidence(f, 'counter', 'Tcp.RetransSegs')!.delta).toBeLessThanOrEqual(k);
    expect(evidence(f, 'counter', 'Tcp.RetransSegs')!.delta).toBeGreaterThan(0);
  });

  it('data lost from C to A: path-loss in the other direction', () => {
    const f = byDst('path-loss', 7002)[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toEqual({ ip: '10.249.2.2', port: 7002 });
    expect(f.destination.ip).toBe('10.249.1.1');
    expect(f.network.direction).toBe('egress');
    expect(f.droptrace.netns.inode).toBe(lab.netnsInode(C));
    expect(lab.nftCounter(R, 'loss', 'data-c-to-a')).toBeGreaterThan(0);
    expect(evidence(f, 'incoming', 'hole-filling')!.value).toBeGreaterThan(0);
  });

  it('ACKs lost from C back to A: ack-path-loss, the lost packets are C→A, duplicates at C = the kernel\'s DelayedACKLost', () => {
    const f = byDst('ack-path-loss', 7001)[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toMatchObject({ ip: '10.249.2.2', port: 7001 });
    expect(f.destination.ip).toBe('10.249.1.1');
    expect(f.network.direction).toBe('egress');
    expect(f.droptrace.netns.inode).toBe(lab.netnsInode(C));
    expect(lab.nftCounter(R, 'loss', 'acks-c-to-a')).toBeGreaterThan(0);
    const k = counterDelta(before.get(C)!, after.get(C)!, 'TcpExt.DelayedACKLost');
    expect(k).toBeGreaterThanOrEqual(3);
    expect(evidence(f, 'counter', 'TcpExt.DelayedACKLost')!.delta).toBe(k);
    // Not mistaken for data loss on the A→C path of that connection.
    expect(byDst('path-loss', 7001)).toHaveLength(0);
  });
});
