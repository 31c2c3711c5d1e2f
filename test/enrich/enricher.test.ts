import { describe, it, expect } from 'vitest';
import { Enricher, tcpFlags } from '../../src/enrich/enricher.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';
import { ReasonTable } from '../../src/enrich/reasons.js';
import { MonotonicToWall } from '../../src/enrich/clock.js';
import type { InterfaceResolver } from '../../src/enrich/interfaces.js';
import type { DropWire, TcpSockWire } from '../../src/decode/wire.js';
import { SYMS, WALL0, fixedClock } from '../helpers/fake-enricher.js';

const REASONS = new ReasonTable(new Map([[2, 'NOT_SPECIFIED'], [3, 'NO_SOCKET'], [12, 'NETFILTER_DROP']]));


const NAMES = new Map<string, string>([['4026532301:3', 'veth-b'], ['4026532301:5', 'eth0'], ['4026532999:9', 'fwd-in']]);
const lookups: Array<[number, number]> = [];
const fakeInterfaces = {
  calls: lookups,
  nameOf(netns: number, ifindex: number): string | undefined {
    lookups.push([netns, ifindex]);
    return NAMES.get(`${netns}:${ifindex}`);
  },
} as unknown as InterfaceResolver & { calls: Array<[number, number]> };

function enricher(tlpObserved = false): Enricher {
  return new Enricher({
    symbols: new KallsymsSymbolizer(SYMS),
    reasons: REASONS,
    interfaces: fakeInterfaces,
    hostName: 'node-1',
    clock: new MonotonicToWall(fixedClock),
    tlpObserved,
  });
}

/** Probe words for a.b.c.d (little-endian load of network-order bytes). */
const v4 = (a: number, b: number, c: number, d: number) => (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
const ZERO6 = '0'.repeat(32);

function drop(over: Partial<DropWire> = {}): DropWire {
  return {
    t: 'drop', ts: 3_500_000_000, reason: 3, loc: '0xffffffff82046f4c', eth: 0x0800, len: 60, ifindex: 3, iif: 3,
    netns: 4026532301, dst_in: '0xffffffff81ff6530', l3: 4, l4: 17, s4: v4(10, 1, 0, 1), d4: v4(10, 1, 0, 2),
    s6: ZERO6, d6: ZERO6, sport: 40000, dport: 9999, tflags: 0, icmp_type: 0, icmp_code: 0, cpu: 2,
    ...over,
  };
}

function sock(t: TcpSockWire['t'], over: Partial<TcpSockWire> = {}): TcpSockWire {
  return {
    t, ts: 2_000_000_000, state: 1, ca_state: 4, pending: 1, retransmits: 1, netns: 4026532301, l3: 4,
    s4: v4(10, 2, 0, 1), d4: v4(10, 2, 0, 2), s6: ZERO6, d6: ZERO6, sport: 5201, dport: 46000, len: 1448, cpu: 0,
    ...over,
  };
}

describe('Enricher.drop', () => {
  it('an incoming UDP packet to a closed port: every design-doc field', () => {
    const r = enricher().drop(drop());
    expect(r['@timestamp']).toBe('2024-01-01T00:00:02.500Z');
    expect(r.event).toEqual({
      kind: 'event', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.drops', reason: 'NO_SOCKET',
    });
    expect(r.network).toEqual({ type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' });
    // source/destination are those of the lost packet.
    expect(r.source).toEqual({ ip: '10.1.0.1', port: 40000 });
    expect(r.destination).toEqual({ ip: '10.1.0.2', port: 9999 });
    expect(r.host).toEqual({ name: 'node-1' });
    expect(r.observer).toEqual({ ingress: { interface: { id: '3', name: 'veth-b' } } });
    const dt = r.droptrace as Record<string, any>;
    expect(dt.drop).toEqual({
      reason_code: 3,
      location: { address: '0xffffffff82046f4c', symbol: '__udp4_lib_rcv', offset: 0x14c },
    });
    expect(dt.netns).toEqual({ inode: 4026532301 });
    expect(dt.path).toBe('local-in');
    expect(dt.bytes).toBe(60);
    expect(dt.tcp).toBeUndefined();
    expect(dt.icmp).toBeUndefined();
    expect(dt.ethertype).toBeUndefined();
    expect(typeof dt.id).toBe('string');
    // The record survives JSON (what --json and the sinks write).
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('a netfilter drop in a module: location carries the module', () => {
    const r = enricher().drop(drop({ reason: 12, loc: '0xffffffffc0a013c4' }));
    expect(r.event.reason).toBe('NETFILTER_DROP');
    expect((r.droptrace as any).drop).toEqual({
      reason_code: 12,
      location: { address: '0xffffffffc0a013c4', symbol: 'nft_do_chain', offset: 0x3c4, module: 'nf_tables' },
    });
  });

  it('a locally generated packet (iif 0) is egress / local-out, observed on the output device', () => {
    fakeInterfaces.calls.length = 0;
    const r = enricher().drop(drop({ iif: 0, ifindex: 5, dst_in: '0x0', loc: '0xffffffff82200010' }));
    expect(r.network?.direction).toBe('egress');
    expect((r.droptrace as any).path).toBe('local-out');
    expect(r.observer).toEqual({ egress: { interface: { id: '5', name: 'eth0' } } });
    expect(r.observer?.ingress).toBeUndefined();
    expect(fakeInterfaces.calls).toEqual([[4026532301, 5]]);
    // The source is still the packet's source (this host).
    expect(r.source?.ip).toBe('10.1.0.1');
  });

  it('a forwarded packet is ingress / forward and uses the input interface', () => {
    const r = enricher().drop(drop({ iif: 9, ifindex: 4, netns: 4026532999, dst_in: '0xffffffff81ff8090', reason: 12 }));
    expect(r.network?.direction).toBe('ingress');
    expect((r.droptrace as any).path).toBe('forward');
    expect(r.observer).toEqual({ ingress: { interface: { id: '9', name: 'fwd-in' } } });
  });

  it('dropped without a route: local-in in the socket layer or with a receiving socket; else unknown without address facts', () => {
    // __udp4_lib_rcv: UDP receive is local delivery even when the route was dropped.
    expect((enricher().drop(drop({ dst_in: '0x0' })).droptrace as any).path).toBe('local-in');
    // nft_do_chain (prerouting) with no other evidence and no address list: unknown.
    const r = enricher().drop(drop({ dst_in: '0x0', loc: '0xffffffffc0a013c4' }));
    expect(r.network?.direction).toBe('ingress');
    expect((r.droptrace as any).path).toBe('unknown');
    // The probe's local flag (rx_sk / skb->sk) settles it.
    expect((enricher().drop(drop({ dst_in: '0x0', loc: '0xffffffffc0a013c4', local: 1 })).droptrace as any).path).toBe('local-in');
  });

  it('dropped before routing: the netns addresses tell local-in from forward', () => {
    const withAddrs = new Enricher({
      symbols: new KallsymsSymbolizer(SYMS), reasons: REASONS, hostName: 'node-1', clock: new MonotonicToWall(fixedClock),
      interfaces: { ...fakeInterfaces, nameOf: fakeInterfaces.nameOf, isLocalAddress: (ns: number, ip: string) => (ns === 4026532301 ? ip === '10.1.0.2' : undefined) } as unknown as InterfaceResolver,
    });
    expect((withAddrs.drop(drop({ dst_in: '0x0', loc: '0xffffffffc0a013c4' })).droptrace as any).path).toBe('local-in');
    expect((withAddrs.drop(drop({ dst_in: '0x0', loc: '0xffffffffc0a013c4', d4: v4(10, 9, 9, 9) })).droptrace as any).path).toBe('forward');
  });

  it('an unknown interface name leaves only the id; ifindex 0 leaves no observer at all', () => {
    const r = enricher().drop(drop({ iif: 77 }));
    expect(r.observer).toEqual({ ingress: { interface: { id: '77' } } });
    const r0 = enricher().drop(drop({ iif: 0, ifindex: 0 }));
    expect(r0.observer).toBeUndefined();
  });

  it('IPv6 TCP: compressed addresses, ports and flag names', () => {
    // 2001:db8::1 → 2001:db8::2, SYN|ACK.
    const r = enricher().drop(drop({
      eth: 0x86dd, l3: 6, l4: 6, s4: 0, d4: 0, s6: 'b80d0120000000000000000001000000', d6: 'b80d0120000000000000000002000000',
      sport: 443, dport: 51000, tflags: 0x12, dst_in: '0xffffffff820d8c50',
    }));
    expect(r.network).toEqual({ type: 'ipv6', transport: 'tcp', iana_number: '6', direction: 'ingress' });
    expect(r.source).toEqual({ ip: '2001:db8::1', port: 443 });
    expect(r.destination).toEqual({ ip: '2001:db8::2', port: 51000 });
    expect((r.droptrace as any).tcp).toEqual({ flags: ['SYN', 'ACK'] });
    expect((r.droptrace as any).path).toBe('local-in');
  });

  it('ICMP: type and code, no ports', () => {
    const r = enricher().drop(drop({ l4: 1, sport: 0, dport: 0, icmp_type: 8, icmp_code: 0 }));
    expect(r.network?.transport).toBe('icmp');
    expect(r.source).toEqual({ ip: '10.1.0.1' });
    expect(r.destination).toEqual({ ip: '10.1.0.2' });
    expect((r.droptrace as any).icmp).toEqual({ type: 8, code: 0 });
    const r6 = enricher().drop(drop({ l3: 6, l4: 58, icmp_type: 128, icmp_code: 0 }));
    expect(r6.network?.transport).toBe('ipv6-icmp');
    expect((r6.droptrace as any).icmp).toEqual({ type: 128, code: 0 });
  });

  it('an L4 protocol without a name keeps its number and no ports', () => {
    const r = enricher().drop(drop({ l4: 89, sport: 0, dport: 0 }));
    expect(r.network).toEqual({ type: 'ipv4', iana_number: '89', direction: 'ingress' });
    expect(r.source).toEqual({ ip: '10.1.0.1' });
  });

  it('a non-IP packet: no addresses, network type or protocol; ethertype kept', () => {
    const r = enricher().drop(drop({ eth: 0x0806, l3: 0, l4: 0, s4: 0, d4: 0, sport: 0, dport: 0 }));
    expect(r.source).toBeUndefined();
    expect(r.destination).toBeUndefined();
    expect(r.network).toEqual({ direction: 'ingress' });
    expect((r.droptrace as any).ethertype).toBe(0x0806);
  });

  it('an unknown reason code and an unresolvable location are kept raw', () => {
    const r = enricher().drop(drop({ reason: 99, loc: '0xffffffff80000000' }));
    expect(r.event.reason).toBe('UNKNOWN_99');
    expect((r.droptrace as any).drop).toEqual({ reason_code: 99, location: { address: '0xffffffff80000000' } });
  });

  it('ids are unique for consecutive events in the same ns on the same CPU', () => {
    const e = enricher();
    const ids = [e.drop(drop()), e.drop(drop()), e.drop(drop()), e.drop(drop({ cpu: 3 })), e.drop(drop({ ts: 3_500_000_001 }))].map((r) => r.droptrace.id);
    expect(new Set(ids).size).toBe(5);
    expect(ids[0]).toMatch(/^node-1-/);
    // A retransmit at the same ns and CPU is a different record too.
    expect(e.tcpSock(sock('retrans', { ts: 3_500_000_000, cpu: 2 })).droptrace.id).not.toBe(ids[0]);
  });
});

describe('Enricher.tcpSock (retransmits, loss probes)', () => {
  it('an RTO retransmit: egress, source = this host (local address and port)', () => {
    const r = enricher().tcpSock(sock('retrans'));
    expect(r['@timestamp']).toBe('2024-01-01T00:00:01.000Z');
    expect(r.event).toEqual({
      kind: 'event', category: ['network'], type: ['connection'], action: 'tcp-retransmit', dataset: 'droptrace.retransmits', reason: 'rto',
    });
    expect(r.network).toEqual({ type: 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' });
    expect(r.source).toEqual({ ip: '10.2.0.1', port: 5201 });
    expect(r.destination).toEqual({ ip: '10.2.0.2', port: 46000 });
    const dt = r.droptrace as Record<string, any>;
    expect(dt.retransmit).toEqual({ type: 'rto' });
    expect(dt.tcp).toEqual({ state: 'ESTABLISHED', ca_state: 'Loss', retransmits: 1 });
    expect(dt.path).toBe('local-out');
    expect(dt.bytes).toBe(1448);
    expect(dt.netns).toEqual({ inode: 4026532301 });
    expect(r.observer).toBeUndefined();
  });

  it('a fast retransmit over IPv6', () => {
    const r = enricher().tcpSock(sock('retrans', { l3: 6, ca_state: 3, s6: 'b80d0120000000000000000001000000', d6: 'b80d0120000000000000000002000000' }));
    expect(r.event.reason).toBe('fast');
    expect(r.network?.type).toBe('ipv6');
    expect(r.source).toEqual({ ip: '2001:db8::1', port: 5201 });
    expect(r.destination).toEqual({ ip: '2001:db8::2', port: 46000 });
  });

  it('a TLP inferred from socket state becomes a tcp-loss-probe record when probes are not observed', () => {
    const r = enricher(false).tcpSock(sock('retrans', { ca_state: 0, pending: 5 }));
    expect(r.event.action).toBe('tcp-loss-probe');
    expect((r.droptrace as any).retransmit).toEqual({ type: 'tlp', tlp_source: 'inferred' });
  });

  it('with observed probes, the retransmitted TLP segment stays a tcp-retransmit', () => {
    const r = enricher(true).tcpSock(sock('retrans', { ca_state: 0, pending: 5 }));
    expect(r.event.action).toBe('tcp-retransmit');
    expect((r.droptrace as any).retransmit).toEqual({ type: 'tlp' });
  });

  it('an observed loss probe event', () => {
    const r = enricher(true).tcpSock(sock('tlp', { len: 0 }));
    expect(r.event.action).toBe('tcp-loss-probe');
    expect(r.event.dataset).toBe('droptrace.retransmits');
    expect((r.droptrace as any).retransmit).toEqual({ type: 'tlp', tlp_source: 'observed' });
    expect((r.droptrace as any).bytes).toBeUndefined();
    expect(r.network?.direction).toBe('egress');
  });

  it('a SYN-ACK retransmit: type synack, state only', () => {
    const r = enricher().tcpSock(sock('synack', { state: 12, len: 0 }));
    expect(r.event.action).toBe('tcp-retransmit');
    expect(r.event.reason).toBe('synack');
    expect((r.droptrace as any).tcp).toEqual({ state: 'NEW_SYN_RECV' });
    expect(r.source).toEqual({ ip: '10.2.0.1', port: 5201 });
  });

  it('a SYN retransmit', () => {
    const r = enricher().tcpSock(sock('retrans', { state: 2 }));
    expect(r.event.reason).toBe('syn');
    expect((r.droptrace as any).tcp.state).toBe('SYN_SENT');
  });
});

describe('tcpFlags', () => {
  it('names bits in order', () => {
    expect(tcpFlags(0)).toEqual([]);
    expect(tcpFlags(0x02)).toEqual(['SYN']);
    expect(tcpFlags(0x11)).toEqual(['FIN', 'ACK']);
    expect(tcpFlags(0x14)).toEqual(['RST', 'ACK']);
    expect(tcpFlags(0xff)).toEqual(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']);
  });
});
