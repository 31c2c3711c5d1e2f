// Live: real bpftrace on this kernel, drops provoked in namespaces we build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, PY_UDP_SEND } from '../helpers/netns.js';
import { startDroptrace, sleep, type Running } from '../helpers/droptrace-process.js';

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
    }`);
    dt = startDroptrace(['tail', '--json', '--filter-host', '10.201.0.0/16']);
    await dt.ready();
  });

  afterAll(async () => {
    await dt?.stop();
    dt?.cleanup();
    lab.cleanup();
  });

  async function recordsFor(pred: (r: any) => boolean, min: number, timeoutMs = 10_000) {
    const t0 = Date.now();
    for (;;) {
      const got = dt.json().filter(pred);
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

  it('UDP to a closed port → NO_SOCKET, ingress/local-in', async () => {
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.201.1.2', '40002', '3', '41002']);
    const recs = await recordsFor((r) => r.destination?.port === 40002 && r.event.reason === 'NO_SOCKET', 3);
    expect(recs).toHaveLength(3);
    expect(recs[0].source).toEqual({ ip: '10.201.1.1', port: 41002 });
    expect(recs[0].network.direction).toBe('ingress');
    expect(recs[0].droptrace.path).toBe('local-in');
    expect(recs[0].droptrace.drop.location.symbol).toMatch(/udp/);
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
});
