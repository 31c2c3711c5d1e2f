// Live: real bpftrace on this kernel, drops provoked in namespaces we build,
// counted against the kernel's own figures: nft rule counters, Udp.NoPorts,
// Udp.RcvbufErrors and TcpExt.IPReversePathFilter (nstat). `run` streams each
// event (--stream-rate) and ends with its self-stats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, PY_UDP_SEND, nstat, nstatDelta, spawnIn } from '../helpers/netns.js';
import { startDroptrace, sleep, type Running } from '../helpers/droptrace-process.js';
import { finalStats, expectNoSelfLoss } from '../helpers/self-stats.js';

/** A UDP receiver that never reads, with the smallest receive buffer: prints "listening". argv: ip port */
const PY_UDP_SLOW_READER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
print('listening', flush=True)
time.sleep(600)
`;

/** IPv6 UDP with an extension header in front (IPV6_HOPOPTS 54 or IPV6_DSTOPTS 59: PadN options). argv: dst port sport opt n */
const PY_UDP6_EXT = `
import socket, sys, time
dst, port, sport, opt, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('', sport))
# next header (filled by the kernel), length 0 (8 bytes), PadN of 4 zero bytes
s.setsockopt(socket.IPPROTO_IPV6, opt, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
for i in range(n):
    s.sendto(b'droptrace-ext', (dst, port)); time.sleep(0.002)
`;

/** Join a multicast group on an interface: the kernel sends MLD reports (ICMPv6 behind a hop-by-hop header). argv: group ifname */
const PY_MLD_JOIN = `
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, sys.argv[1]) + struct.pack('@I', socket.if_nametoindex(sys.argv[2])))
print('joined', flush=True)
time.sleep(600)
`;

describe('drops (tracepoint:skb:kfree_skb)', () => {
  const lab = new Lab();
  let dt: Running;
  let A: string, B: string, R: string, C: string;

  beforeAll(async () => {
    A = lab.ns('A');
    B = lab.ns('B');
    lab.link(A, '10.201.1.1/24', B, '10.201.1.2/24', `${lab.prefix}v`);
    // A router R between A2 (10.201.2.0/24) and C (10.201.3.0/24).
    const A2 = lab.ns('A2');
    R = lab.ns('R');
    C = lab.ns('C');
    lab.link(A2, '10.201.2.1/24', R, '10.201.2.254/24', `${lab.prefix}r`);
    lab.link(R, '10.201.3.254/24', C, '10.201.3.2/24', `${lab.prefix}s`);
    lab.exec(A2, 'ip', ['route', 'add', 'default', 'via', '10.201.2.254']);
    lab.exec(C, 'ip', ['route', 'add', 'default', 'via', '10.201.3.254']);
    lab.exec(R, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    (globalThis as any).__A2 = A2;
    lab.nft(B, `table inet dtest {
      chain c_in { type filter hook input priority 0; udp dport 40001 counter drop comment "in-drop"; }
    }`);
    lab.nft(A, `table inet dtest {
      chain c_out { type filter hook output priority 0; udp dport 40003 counter drop comment "out-drop"; }
    }`);
    lab.nft(R, `table inet dtest {
      chain c_fwd { type filter hook forward priority 0; udp dport 40004 counter drop comment "fwd-drop"; }
      chain c_pre { type filter hook prerouting priority 0; udp dport 40008 counter drop comment "pre-fwd"; }
    }`);
    lab.nft(B, `table inet dpre {
      chain c_pre { type filter hook prerouting priority 0; udp dport 40007 counter drop comment "pre-local"; }
    }`);
    // IPv6 on A–B, and strict reverse-path filtering on B (A sends from an address B has no route back to).
    lab.exec(A, 'ip', ['addr', 'add', 'fd00:201::1/64', 'dev', `${lab.prefix}va`, 'nodad']);
    lab.exec(B, 'ip', ['addr', 'add', 'fd00:201::2/64', 'dev', `${lab.prefix}vb`, 'nodad']);
    lab.exec(A, 'ip', ['addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
    lab.exec(A, 'ip', ['route', 'add', '10.201.9.0/24', 'dev', `${lab.prefix}va`, 'src', '10.99.0.1']);
    lab.exec(B, 'ip', ['addr', 'add', '10.201.9.2/24', 'dev', `${lab.prefix}vb`]);
    lab.exec(B, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1', `net.ipv4.conf.${lab.prefix}vb.rp_filter=1`]);
    // B would not answer ARP from a source it has no route to (rp_filter applies to ARP too): a static neighbour.
    const bMac = JSON.parse(lab.exec(B, 'ip', ['-j', 'link', 'show', `${lab.prefix}vb`]))[0].address as string;
    lab.exec(A, 'ip', ['neigh', 'replace', '10.201.9.2', 'lladdr', bMac, 'dev', `${lab.prefix}va`, 'nud', 'permanent']);
    dt = startDroptrace(['run', '--json', '--stream-rate', '100000', '--interval', '1', '--filter-host', '10.201.0.0/16', '--filter-host', '10.99.0.0/16', '--filter-host', 'fd00:201::/64', '--filter-host', 'ff02::/16']);
    await dt.ready();
  });

  afterAll(async () => {
    await dt?.stop();
    dt?.cleanup();
    lab.cleanup();
  });

  // Last: stop droptrace and check it lost nothing of its own.
  const lastly = () => it('self-stats: nothing lost, undecodable, stray or unattributed', async () => {
    expect(await dt.stop()).toBe(0);
    expectNoSelfLoss(finalStats(dt.json()));
  });

  async function recordsFor(pred: (r: any) => boolean, min: number, timeoutMs = 10_000) {
    const t0 = Date.now();
    for (;;) {
      const got = dt.json().filter((r) => r.event?.dataset === 'droptrace.drops' && pred(r));
      if (got.length >= min || Date.now() - t0 > timeoutMs) return got;
      await sleep(100);
    }
  }

  it('nft drop on the input chain → NETFILTER_DROP at nft_do_chain, exact 5-tuple, ingress, interface name', async () => {
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.1.2', '40001', '5', '41001']);
    const recs = await recordsFor((r) => r.destination?.port === 40001, 5);
    expect(lab.nftCounter(B, 'dtest', 'in-drop')).toBe(5);
    expect(recs).toHaveLength(5);
    const r = recs[0];
    expect(r.event).toMatchObject({ kind: 'event', action: 'packet-dropped', dataset: 'droptrace.drops', reason: 'NETFILTER_DROP' });
    expect(r.event.category).toEqual(['network']);
    expect(r.droptrace.drop.location.symbol).toMatch(/^(nft_do_chain|nf_hook_slow)/);
    expect(r.droptrace.drop.location.address).toMatch(/^0x[0-9a-f]{16}$/);
    expect(r.source).toEqual({ ip: '10.201.1.1', port: 41001 });
    expect(r.destination).toEqual({ ip: '10.201.1.2', port: 40001 });
    expect(r.network).toEqual({ type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' });
    expect(r.droptrace.path).toBe('local-in');
    expect(r.observer.ingress.interface.name).toBe(`${lab.prefix}vb`);
    expect(r.droptrace.netns.inode).toBe(lab.netnsInode(B));
    expect(Date.parse(r['@timestamp'])).toBeGreaterThan(Date.now() - 60_000);
  });

  it('UDP to a closed port → NO_SOCKET, ingress/local-in, one per Udp.NoPorts', async () => {
    const before = nstat(B);
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.1.2', '40002', '30', '41002']);
    const noPorts = nstatDelta(before, nstat(B)).UdpNoPorts;
    expect(noPorts).toBe(30);
    const recs = await recordsFor((r) => r.destination?.port === 40002 && r.event.reason === 'NO_SOCKET', noPorts);
    expect(recs).toHaveLength(noPorts);
    expect(recs[0].source).toEqual({ ip: '10.201.1.1', port: 41002 });
    expect(recs[0].network.direction).toBe('ingress');
    expect(recs[0].droptrace.path).toBe('local-in');
    expect(recs[0].droptrace.drop.location.symbol).toMatch(/udp/);
  });

  it('a full socket receive buffer → SOCKET_RCVBUFF, local-in (no route on the skb any more), one per Udp.RcvbufErrors', async () => {
    const reader = spawnIn(B, 'python3', ['-c', PY_UDP_SLOW_READER, '10.201.1.2', '40005']);
    try {
      await reader.waitFor('listening');
      const before = nstat(B);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND.replace("b'droptrace-test'", "b'x' * 1200"), '10.201.1.2', '40005', '200', '41005']);
      const errors = nstatDelta(before, nstat(B)).UdpRcvbufErrors;
      expect(errors).toBeGreaterThan(100);
      const recs = await recordsFor((r) => r.destination?.port === 40005 && r.event.reason === 'SOCKET_RCVBUFF', errors);
      expect(recs).toHaveLength(errors);
      for (const r of recs) {
        expect(r.droptrace.path).toBe('local-in');
        expect(r.network.direction).toBe('ingress');
        expect(r.droptrace.netns.inode).toBe(lab.netnsInode(B));
      }
    } finally {
      reader.kill();
    }
  });

  it('strict rp_filter → IP_RPFILTER before routing, local-in (for one of B\'s addresses), one per IPReversePathFilter', async () => {
    const before = nstat(B);
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.9.2', '40006', '12', '41006']);
    const rp = nstatDelta(before, nstat(B)).TcpExtIPReversePathFilter;
    expect(rp).toBe(12);
    const recs = await recordsFor((r) => r.destination?.port === 40006 && r.event.reason === 'IP_RPFILTER', rp);
    expect(recs).toHaveLength(rp);
    expect(recs[0].source).toEqual({ ip: '10.99.0.1', port: 41006 });
    expect(recs[0].droptrace.drop.location.symbol).toMatch(/^ip_rcv_finish/);
    for (const r of recs) expect(r.droptrace.path).toBe('local-in');
  });

  it('a prerouting drop (no route yet): local-in for a packet to the host, forward for one the router would have forwarded', async () => {
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.1.2', '40007', '5', '41007']);
    const local = await recordsFor((r) => r.destination?.port === 40007, 5);
    expect(lab.nftCounter(B, 'dpre', 'pre-local')).toBe(5);
    expect(local).toHaveLength(5);
    for (const r of local) expect([r.event.reason, r.droptrace.path]).toEqual(['NETFILTER_DROP', 'local-in']);
    const A2 = (globalThis as any).__A2 as string;
    lab.exec(A2, 'python3', ['-c', PY_UDP_SEND, '10.201.3.2', '40008', '5', '41008']);
    const fwd = await recordsFor((r) => r.destination?.port === 40008, 5);
    expect(lab.nftCounter(R, 'dtest', 'pre-fwd')).toBe(5);
    expect(fwd).toHaveLength(5);
    for (const r of fwd) expect([r.droptrace.path, r.droptrace.netns.inode]).toEqual(['forward', lab.netnsInode(R)]);
  });

  it.each([['hop-by-hop', 54], ['destination options', 59]])('IPv6 UDP behind a %s header: the ports are read behind it', async (_name, opt) => {
    const port = 40010 + opt;
    const before = nstat(B);
    lab.exec(A, 'python3', ['-c', PY_UDP6_EXT, 'fd00:201::2', String(port), String(41000 + opt), String(opt), '6']);
    const noPorts = nstatDelta(before, nstat(B)).Udp6NoPorts;
    expect(noPorts).toBe(6);
    const recs = await recordsFor((r) => r.destination?.port === port, 6);
    expect(recs).toHaveLength(6);
    for (const r of recs) {
      expect(r.event.reason).toBe('NO_SOCKET');
      expect(r.source).toEqual({ ip: 'fd00:201::1', port: 41000 + opt });
      expect(r.network).toMatchObject({ type: 'ipv6', transport: 'udp', iana_number: '17' });
    }
  });

  it('MLD reports (ICMPv6 behind hop-by-hop) dropped by a host that is no router: transport ipv6-icmp, the ICMP type read', async () => {
    const join = spawnIn(A, 'python3', ['-c', PY_MLD_JOIN, 'ff02::1:2345', `${lab.prefix}va`]);
    try {
      await join.waitFor('joined');
      const recs = await recordsFor((r) => r.network?.type === 'ipv6' && r.droptrace.icmp?.type === 143, 1, 15_000);
      expect(recs.length).toBeGreaterThanOrEqual(1);
      for (const r of recs) expect(r.network.transport).toBe('ipv6-icmp');
    } finally {
      join.kill();
    }
  });

  it('drop on the output chain → egress / local-out', async () => {
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.1.2', '40003', '4', '41003']);
    const recs = await recordsFor((r) => r.destination?.port === 40003, 4);
    expect(lab.nftCounter(A, 'dtest', 'out-drop')).toBe(4);
    expect(recs).toHaveLength(4);
    expect(recs[0].event.reason).toBe('NETFILTER_DROP');
    expect(recs[0].network.direction).toBe('egress');
    expect(recs[0].droptrace.path).toBe('local-out');
    expect(recs[0].source).toEqual({ ip: '10.201.1.1', port: 41003 });
    expect(recs[0].droptrace.netns.inode).toBe(lab.netnsInode(A));
  });

  it('forward-chain drop in a router namespace → ingress / forward', async () => {
    const A2 = (globalThis as any).__A2 as string;
    lab.exec(A2, 'python3', ['-c', PY_UDP_SEND, '10.201.3.2', '40004', '4', '41004']);
    const recs = await recordsFor((r) => r.destination?.port === 40004, 4);
    expect(lab.nftCounter(R, 'dtest', 'fwd-drop')).toBe(4);
    expect(recs).toHaveLength(4);
    const r = recs[0];
    expect(r.event.reason).toBe('NETFILTER_DROP');
    expect(r.network.direction).toBe('ingress');
    expect(r.droptrace.path).toBe('forward');
    expect(r.source).toEqual({ ip: '10.201.2.1', port: 41004 });
    expect(r.destination).toEqual({ ip: '10.201.3.2', port: 40004 });
    expect(r.observer.ingress.interface.name).toBe(`${lab.prefix}rb`);
    expect(r.droptrace.netns.inode).toBe(lab.netnsInode(R));
  });
  lastly();
});
