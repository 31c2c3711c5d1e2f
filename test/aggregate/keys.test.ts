// Round trips: a key packed the way the probe packs it, printed the way
// bpftrace prints it, decoded back into the wire event the enricher reads.
import { describe, it, expect } from 'vitest';
import { decodeLine, type MapEntry, type DropWire, type TcpSockWire, type IncomingWire } from '../../src/decode/wire.js';
import { decodeEntry } from '../../src/aggregate/keys.js';
import { ipv4FromWord, ipv6FromWords } from '../../src/decode/address.js';
import { dropKey, dropOverflowKey, sockKey, sockMeta, sockOverflowKey, incomingKey, incomingMeta, incomingOverflowKey, mapLine, v4Word, v6Words, type DropKeyInput } from '../helpers/probe-keys.js';

const TS = 9_000_000_000;
const LOCAL_IN = 0xffffffff81ff6530n; // ip_local_deliver
const LOC = 0xffffffff82046f4cn; // __udp4_lib_rcv+0x14c
const ZERO6 = '0'.repeat(32);

/** Print, decode the line, decode the entry: the whole collector path for one entry. */
function roundTrip(map: string, keys: bigint[], count = 3, total = 120): ReturnType<typeof decodeEntry> {
  // Either generation; the decoder drops the digit.
  const m = decodeLine(mapLine(`${map}${count % 2}`, keys, count, total));
  expect(m.kind).toBe('map-entry');
  if (m.kind !== 'map-entry') return undefined;
  expect(m.entry.keys).toEqual(keys);
  expect(m.entry.count).toBe(count);
  expect(m.entry.total).toBe(total);
  return decodeEntry(m.entry, TS);
}

const entry = (map: string, keys: bigint[]): MapEntry => ({ map, keys, count: 1, total: 1, segments: 0 });

describe('helpers mirror the probes', () => {
  it('IPv4 word: little-endian load of network-order bytes (the same word the enricher tests use)', () => {
    expect(v4Word('10.1.0.1')).toBe(BigInt(10 | (1 << 8) | (0 << 16) | (1 << 24)));
    expect(ipv4FromWord(Number(v4Word('192.168.200.254')))).toBe('192.168.200.254');
  });
  it('IPv6 words, as %08x x4, read back by the address decoder', () => {
    const hex = v6Words('2001:db8::1').map((w) => w.toString(16).padStart(8, '0')).join('');
    expect(hex).toBe('b80d0120000000000000000001000000');
    expect(ipv6FromWords(hex)).toBe('2001:db8::1');
  });
  it('the real 0.17/0.23 capture key is what dropKey builds for that datagram', () => {
    const k = dropKey({ netns: 4026531833, ifindex: 1, iif: 1, dstIn: 0xffffffff81ff6530n, loc: 0xffffffff82046f4cn, l3: 4, l4: 17, reason: 3, sport: 40001, dport: 9999, src: '127.0.0.1', dst: '127.0.0.1' });
    expect(mapLine('d1', k, 5, 90)).toBe('@d1[4026531833, 4294967297, -2113968848, -2113638580, 1144591604514819, 2621515535, 16777343, 0, 0, 0, 16777343, 0, 0, 0]: count 5, average 18, total 90');
  });
});

describe('decodeEntry: drops (@d, 14 keys)', () => {
  const base: DropKeyInput = {
    netns: 4026532301, ifindex: 3, iif: 3, dstIn: LOCAL_IN, loc: LOC, l3: 4, l4: 17, reason: 3,
    sport: 40000, dport: 9999, src: '10.1.0.1', dst: '10.1.0.2',
  };

  it('IPv4 UDP: every field the enricher reads', () => {
    const d = roundTrip('d', dropKey(base));
    expect(d).toEqual({
      kind: 'd', overflow: false,
      event: {
        t: 'drop', ts: TS, reason: 3, loc: '0xffffffff82046f4c', eth: 0x0800, len: 0, ifindex: 3, iif: 3, netns: 4026532301,
        dst_in: '0xffffffff81ff6530', l3: 4, l4: 17, s4: Number(v4Word('10.1.0.1')), d4: Number(v4Word('10.1.0.2')),
        s6: ZERO6, d6: ZERO6, sport: 40000, dport: 9999, tflags: 0, icmp_type: 0, icmp_code: 0, local: 0, cpu: 0,
      } satisfies DropWire,
    });
  });

  it('the local-delivery flag (bit 32 of the l3/l4/reason word) comes back without touching the reason', () => {
    const ev = roundTrip('d', dropKey({ ...base, dstIn: 0n, local: 1, reason: 0xffffffff }))!.event as DropWire;
    expect([ev.local, ev.reason, ev.l4, ev.l3]).toEqual([1, 0xffffffff, 17, 4]);
  });

  it('IPv4 with a high-bit address and a high port (no sign trouble)', () => {
    const ev = roundTrip('d', dropKey({ ...base, src: '255.254.253.252', dst: '224.0.0.251', sport: 65535, dport: 65534, l4: 6 }))!.event as DropWire;
    expect(ipv4FromWord(ev.s4)).toBe('255.254.253.252');
    expect(ipv4FromWord(ev.d4)).toBe('224.0.0.251');
    expect([ev.sport, ev.dport, ev.l4]).toEqual([65535, 65534, 6]);
  });

  it('IPv6 TCP: four words each way, printed as the probe prints s6/d6', () => {
    const src = '2001:db8:85a3::8a2e:370:7334';
    const dst = 'fe80::ffff:ffff:ffff:fffe';
    const ev = roundTrip('d', dropKey({ ...base, l3: 6, l4: 6, src, dst, sport: 443, dport: 51000, reason: 300, ifindex: 0xfffffffe, iif: 7 }))!.event as DropWire;
    expect(ev.eth).toBe(0x86dd);
    expect([ev.l3, ev.l4, ev.reason]).toEqual([6, 6, 300]);
    expect([ev.s4, ev.d4]).toEqual([0, 0]);
    expect(ev.s6).toMatch(/^[0-9a-f]{32}$/);
    expect(ipv6FromWords(ev.s6)).toBe(src);
    expect(ipv6FromWords(ev.d6)).toBe(dst);
    expect([ev.sport, ev.dport]).toEqual([443, 51000]);
    expect([ev.ifindex, ev.iif]).toEqual([0xfffffffe, 7]);
  });

  it.each([
    [4, 1, 'ICMP'],
    [6, 58, 'ICMPv6'],
  ] as const)('%s: type and code, no ports (%s)', (l3, l4) => {
    const ev = roundTrip('d', dropKey({ ...base, l3, l4, src: l3 === 4 ? '10.9.9.9' : '2001:db8::9', dst: l3 === 4 ? '10.9.9.1' : '2001:db8::1', icmpType: l3 === 4 ? 8 : 128, icmpCode: 255 }))!.event as DropWire;
    expect([ev.icmp_type, ev.icmp_code]).toEqual([l3 === 4 ? 8 : 128, 255]);
    expect([ev.sport, ev.dport]).toEqual([0, 0]);
  });

  it('not IP yet (l3 0): no addresses, ethertype 0', () => {
    const ev = roundTrip('d', dropKey({ ...base, l3: 0, l4: 0, sport: 0, dport: 0 }))!.event as DropWire;
    expect([ev.l3, ev.eth, ev.s4, ev.d4, ev.s6, ev.d6]).toEqual([0, 0, 0, 0, ZERO6, ZERO6]);
  });

  it('a locally generated packet: iif 0, no route (dst_in 0)', () => {
    const ev = roundTrip('d', dropKey({ ...base, iif: 0, ifindex: 5, dstIn: 0n }))!.event as DropWire;
    expect([ev.iif, ev.ifindex, ev.dst_in]).toEqual([0, 5, '0x0']);
  });

  it('a netns inode and a drop location at their full width', () => {
    const ev = roundTrip('d', dropKey({ ...base, netns: 0xffffffff, loc: 0xffffffffffffffffn, dstIn: 0xffffffffc0a01000n }))!.event as DropWire;
    expect(ev.netns).toBe(0xffffffff);
    expect(ev.loc).toBe('0xffffffffffffffff');
    expect(ev.dst_in).toBe('0xffffffffc0a01000');
  });

  it('overflow (@od, 10 keys): the flow without its source — the service a flood targets', () => {
    const d = roundTrip('od', dropOverflowKey({ ...base, reason: 12, iif: 4 }), 1000, 64000)!;
    expect(d.kind).toBe('d');
    expect(d.overflow).toBe(true);
    expect(d.event).toMatchObject({
      t: 'drop', reason: 12, iif: 4, dst_in: '0xffffffff81ff6530', l3: 4, l4: 17, netns: 4026532301, loc: '0xffffffff82046f4c',
      s4: 0, s6: ZERO6, sport: 0, d4: Number(v4Word('10.1.0.2')), dport: 9999,
    });
    const v6 = roundTrip('od', dropOverflowKey({ ...base, l3: 6, src: '2001:db8::1', dst: '2001:db8::2' }))!.event as DropWire;
    expect([v6.s6, ipv6FromWords(v6.d6), v6.dport]).toEqual([ZERO6, '2001:db8::2', 9999]);
    // ICMP keeps its type and code (the "port" of an ICMP flood).
    const icmp = roundTrip('od', dropOverflowKey({ ...base, l4: 1, icmpType: 8, icmpCode: 0 }))!.event as DropWire;
    expect([icmp.icmp_type, icmp.icmp_code, icmp.sport, icmp.dport]).toEqual([8, 0, 0, 0]);
  });
});

describe('decodeEntry: TCP socket events (@r, 11 keys)', () => {
  const base = { netns: 4026532301, state: 1, ca: 4, pending: 1, l3: 4 as const, sport: 5201, dport: 46000, src: '10.2.0.1', dst: '10.2.0.2' };

  it.each([[1, 'retrans'], [2, 'synack'], [3, 'tlp']] as const)('code %d → %s', (code, t) => {
    const d = roundTrip('r', sockKey({ ...base, code }))!;
    expect(d).toEqual({
      kind: 'r', overflow: false,
      event: {
        t, ts: TS, state: 1, ca_state: 4, pending: 1, retransmits: 0, netns: 4026532301, l3: 4,
        s4: Number(v4Word('10.2.0.1')), d4: Number(v4Word('10.2.0.2')), s6: ZERO6, d6: ZERO6, sport: 5201, dport: 46000, len: 0, cpu: 0,
      } satisfies TcpSockWire,
    });
  });

  it('IPv6, every state field at its widest', () => {
    const ev = roundTrip('r', sockKey({ ...base, code: 1, l3: 6, state: 12, ca: 255, pending: 255, src: '2001:db8::a', dst: '::ffff:a00:1', sport: 1, dport: 65535 }))!.event as TcpSockWire;
    expect([ev.state, ev.ca_state, ev.pending, ev.l3]).toEqual([12, 255, 255, 6]);
    expect(ipv6FromWords(ev.s6)).toBe('2001:db8::a');
    expect(ipv6FromWords(ev.d6)).toBe('::ffff:10.0.0.1');
    expect([ev.sport, ev.dport]).toEqual([1, 65535]);
  });

  it.each([1, 2, 3])('overflow (@or, 7 keys) code %d: type and state, the peer service, no local side', (code) => {
    const d = roundTrip('or', sockOverflowKey({ ...base, code, state: 2, ca: 0, pending: 0, l3: 6, src: '2001:db8::a', dst: '2001:db8::b' }))!;
    expect(d.overflow).toBe(true);
    expect(d.event).toMatchObject({ t: ({ 1: 'retrans', 2: 'synack', 3: 'tlp' } as const)[code as 1 | 2 | 3], state: 2, l3: 6, netns: 4026532301, sport: 0, dport: 46000, s4: 0, s6: ZERO6 });
    expect(ipv6FromWords((d.event as TcpSockWire).d6)).toBe('2001:db8::b');
  });

  it('an unknown event code is not a key we know', () => {
    expect(decodeEntry(entry('r', sockKey({ ...base, code: 0 })), TS)).toBeUndefined();
    expect(decodeEntry(entry('r', sockKey({ ...base, code: 4 })), TS)).toBeUndefined();
    expect(decodeEntry(entry('or', sockOverflowKey({ ...base, code: 9 })), TS)).toBeUndefined();
  });
});

describe('decodeEntry: incoming loss (@i, 11 keys)', () => {
  const base = { netns: 4026532999, l3: 4 as const, peer: '10.3.0.1', peerPort: 5001, local: '10.3.0.2', localPort: 40200 };

  it.each([1, 2, 3])('action %d: source is the peer, destination is us', (action) => {
    const d = roundTrip('i', incomingKey({ ...base, action }))!;
    expect(d).toEqual({
      kind: 'i', overflow: false,
      event: {
        t: 'incoming', action, ts: TS, seq: 0, rcv_nxt: 0, len: 0, cpu: 0, netns: 4026532999, l3: 4,
        s4: Number(v4Word('10.3.0.1')), d4: Number(v4Word('10.3.0.2')), s6: ZERO6, d6: ZERO6, sport: 5001, dport: 40200,
      } satisfies IncomingWire,
    });
  });

  it('IPv6', () => {
    const ev = roundTrip('i', incomingKey({ ...base, action: 2, l3: 6, peer: '2001:db8:1::1', local: '2001:db8:2::2' }))!.event as IncomingWire;
    expect(ev.l3).toBe(6);
    expect(ipv6FromWords(ev.s6)).toBe('2001:db8:1::1');
    expect(ipv6FromWords(ev.d6)).toBe('2001:db8:2::2');
  });

  it.each([1, 2, 3])('overflow (@oi, 7 keys) action %d: our service, no peer side', (action) => {
    const d = roundTrip('oi', incomingOverflowKey({ ...base, action }))!;
    expect(d.overflow).toBe(true);
    expect(d.event).toMatchObject({ t: 'incoming', action, l3: 4, netns: 4026532999, sport: 0, s4: 0, dport: 40200, d4: Number(v4Word('10.3.0.2')) });
  });

  it('an unknown action is not a key we know (like an unknown socket event code)', () => {
    expect(decodeEntry(entry('i', incomingKey({ ...base, action: 0 })), TS)).toBeUndefined();
    expect(decodeEntry(entry('i', incomingKey({ ...base, action: 4 })), TS)).toBeUndefined();
    expect(decodeEntry(entry('oi', incomingOverflowKey({ ...base, action: 200 })), TS)).toBeUndefined();
  });
});

describe('decodeEntry: shapes it does not know', () => {
  it.each([
    ['d', 13], ['d', 15], ['od', 3], ['od', 1], ['r', 14], ['or', 1], ['or', 3], ['i', 1], ['oi', 1], ['oi', 11], ['x', 14], ['s', 14], ['n', 1], ['', 0],
  ])('map %j with %d keys', (map, n) => {
    expect(decodeEntry(entry(map, Array(n).fill(1n)), TS)).toBeUndefined();
  });
});
