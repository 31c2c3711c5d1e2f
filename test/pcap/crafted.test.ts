// Crafted edge cases, each written to a capture file and analysed by both
// droptrace (the CLI, as a black box) and tshark: per flow, direction and
// category the counts must be equal. Each scenario also checks that tshark
// itself saw what the scenario is about, so a comparison of two zeros
// cannot pass for a test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Conversation, pcapFile, pcapngFile, frame, LINKTYPES, type Link } from './helpers/craft.js';
import { compare, droptraceCounts, tsharkCounts, type Counts } from './helpers/compare.js';
import { runDroptrace } from '../helpers/droptrace-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'droptrace-crafted-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function analyse(file: string, ...args: string[]): Promise<Array<Record<string, any>>> {
  const r = await runDroptrace(['pcap', '--json', ...args, file], { env: { DROPTRACE_CONFIG: '' } });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function expectSame(ours: Counts, theirs: Counts): void {
  const c = compare(ours, theirs, 0, 0);
  // The table is printed either way: the differences are the test's output.
  console.log(c.table);
  expect(c.failures).toEqual([]);
}

const C = { ip: '10.9.0.1', port: 40000 };
const S = { ip: '10.9.0.2', port: 443 };
const MSS = 1000;

/**
 * Sequence numbers wrap through 0 in the middle of the data; the first SYN
 * is retransmitted; one segment never reaches the capture (lost upstream)
 * and is fast-retransmitted after duplicate ACKs with SACK; one is
 * retransmitted on a timeout; one is re-sent after it was acknowledged
 * (spurious, answered by a D-SACK); one arrives out of order.
 */
function wrapScenario(c = C, s = S, extra = {}): Conversation {
  const isn = 0xfffff000;
  const sisn = 0x10000;
  const D = (k: number) => (isn + 1 + k * MSS) >>> 0;
  const a = new Conversation(c, s, 1_700_000_000_000_000, extra);
  const synOpts = { opts: { mss: MSS, sackPerm: true, wscale: 7 } };
  a.seg(true, isn, undefined, 'S', synOpts)
    .seg(true, isn, undefined, 'S', { ...synOpts, dtUs: 1_000_000 }) // SYN retransmission
    .seg(false, sisn, isn + 1, 'SA', { ...synOpts, win: 65535 })
    .seg(true, isn + 1, sisn + 1, 'A', { win: 502 });
  const ack = (k: number, sack?: Array<[number, number]>, dtUs = 300) => a.seg(false, sisn + 1, D(k), 'A', { win: 510, dtUs, ...(sack ? { opts: { sack } } : {}) });
  const data = (k: number, dtUs = 100) => a.seg(true, D(k), sisn + 1, 'AP', { len: MSS, win: 502, dtUs });
  data(0);
  data(1);
  ack(2);
  // D2 is lost before the capture point: D3 shows the hole.
  data(3);
  data(4);
  ack(2, [[D(3), D(4)]]);
  ack(2, [[D(3), D(5)]], 50);
  data(5);
  ack(2, [[D(3), D(6)]], 50);
  data(2, 200); // fast retransmission, fills the hole (sequence has wrapped by now)
  ack(6);
  data(6);
  data(7);
  ack(7);
  data(7, 300_000); // timeout retransmission (the capture saw the original)
  ack(8);
  data(6, 1000); // already acknowledged: spurious
  ack(8, [[D(6), D(7)]]); // D-SACK
  data(8);
  data(10, 50); // D9 not (yet) seen
  data(9, 50); // arrives right after: out of order
  ack(11);
  a.seg(true, D(11), sisn + 1, 'AF', { win: 502 })
    .seg(false, sisn + 1, D(11) + 1, 'AF', { win: 510 })
    .seg(true, D(11) + 1, sisn + 2, 'A', { win: 502 });
  return a;
}

/** Keep-alives, a zero window with window probes, and a window-full segment (no window scaling). */
function windowScenario(c = { ip: '10.9.0.3', port: 40001 }, s = { ip: '10.9.0.4', port: 8080 }): Conversation {
  const isn = 1000, sisn = 5_000_000;
  const D = (k: number) => isn + 1 + k * MSS;
  const a = new Conversation(c, s, 1_700_000_100_000_000);
  a.seg(true, isn, undefined, 'S', { opts: { mss: MSS } })
    .seg(false, sisn, isn + 1, 'SA', { opts: { mss: MSS }, win: 8000 })
    .seg(true, isn + 1, sisn + 1, 'A', { win: 8000 })
    .seg(true, D(0), sisn + 1, 'AP', { len: MSS, win: 8000 })
    .seg(false, sisn + 1, D(1), 'A', { win: 2000 })
    .seg(true, D(1), sisn + 1, 'AP', { len: MSS, win: 8000 })
    .seg(true, D(2), sisn + 1, 'AP', { len: MSS, win: 8000 }) // fills the 2000-byte window
    .seg(false, sisn + 1, D(3), 'A', { win: 0 }) // zero window
    .seg(true, D(3), sisn + 1, 'AP', { len: 1, win: 8000, dtUs: 200_000 }) // zero-window probe
    .seg(false, sisn + 1, D(3), 'A', { win: 0 }) // probe ACK, still zero
    .seg(true, D(3), sisn + 1, 'AP', { len: 1, win: 8000, dtUs: 400_000 }) // probe again
    .seg(false, sisn + 1, D(3), 'A', { win: 0 })
    .seg(false, sisn + 1, D(3), 'A', { win: 8000, dtUs: 100_000 }) // window opens (update)
    .seg(true, D(3), sisn + 1, 'AP', { len: MSS, win: 8000 })
    .seg(false, sisn + 1, D(4), 'A', { win: 8000 })
    .seg(true, D(4) - 1, sisn + 1, 'A', { win: 8000, dtUs: 2_000_000 }) // keep-alive
    .seg(false, sisn + 1, D(4), 'A', { win: 8000 }) // keep-alive ACK (not a duplicate ACK)
    .seg(true, D(4) - 1, sisn + 1, 'A', { win: 8000, dtUs: 2_000_000 }) // keep-alive
    .seg(false, sisn + 1, D(4), 'A', { win: 8000 });
  return a;
}

describe('crafted captures: droptrace and tshark count the same', () => {
  it('sequence wrap, SYN retransmission, lost segment, fast/timeout/spurious retransmissions, out-of-order, duplicate ACKs with SACK', async () => {
    const f = join(dir, 'wrap.pcap');
    writeFileSync(f, pcapFile(wrapScenario().toFrames()));
    const recs = await analyse(f);
    const theirs = tsharkCounts(f);
    for (const flag of ['retransmission', 'fast_retransmission', 'spurious_retransmission', 'out_of_order', 'lost_segment', 'duplicate_ack']) {
      expect([...theirs.keys()].some((k) => k.endsWith(` ${flag}`)), `tshark saw ${flag}`).toBe(true);
    }
    expectSame(droptraceCounts(recs), theirs);
    // Where the loss happened: the fast retransmission and the out-of-order
    // segment fill holes the capture saw (upstream); the timeout
    // retransmission re-sends a segment the capture had seen (downstream).
    const side = (action: string) => recs.filter((r) => r.event.action === action).map((r) => `${r.droptrace.pcap.loss_side}:${r.droptrace.count}`);
    expect(side('tcp-fast-retransmit')).toEqual(['upstream:1']);
    expect(side('tcp-out-of-order')).toEqual(['upstream:1']);
    expect(side('tcp-lost-segment')).toEqual(['upstream:2']);
    expect(side('tcp-retransmit').sort()).toEqual(['downstream:2']); // the SYN and the timed-out segment
    expect(side('tcp-spurious-retransmit')).toEqual(['none:1']);
    expect(side('tcp-dsack')).toEqual(['none:1']);
    expect(side('tcp-sack')).toEqual(['none:3']);
    // Records are those of the data direction: the duplicate ACKs (sent by the server) count for client → server.
    const dup = recs.find((r) => r.event.action === 'tcp-dup-ack');
    expect(dup.source).toEqual(C);
    expect(dup.droptrace.pcap.evidence).toBe('ack');
  });

  it('keep-alives, zero window with window probes, window full', async () => {
    const f = join(dir, 'window.pcap');
    writeFileSync(f, pcapFile(windowScenario().toFrames('sll'), { linktype: LINKTYPES.sll }));
    const recs = await analyse(f);
    const theirs = tsharkCounts(f);
    for (const flag of ['keep_alive', 'zero_window', 'zero_window_probe', 'window_full']) {
      expect([...theirs.keys()].some((k) => k.endsWith(` ${flag}`)), `tshark saw ${flag}`).toBe(true);
    }
    expectSame(droptraceCounts(recs), theirs);
    // Linux cooked capture: the packet type says the client's packets were outgoing.
    expect(recs.find((r) => r.event.action === 'tcp-keep-alive').network.direction).toBe('egress');
  });

  it('IPv6 with extension headers, VLAN tags, pcapng with two interfaces (µs and ns), a simple packet block and unknown blocks', async () => {
    const c6 = { ip: 'fd00:9::1', port: 40002 };
    const s6 = { ip: 'fd00:9::2', port: 80 };
    const v6 = wrapScenario(c6, s6, { ext6: [0, 60] });
    const v4 = windowScenario();
    const frames = [
      ...v6.frames.map((x) => ({ tsUs: x.tsUs, bytes: frame({ ...x.spec, vlan: [100, 200] }), iface: 0 })),
      ...v4.frames.map((x) => ({ tsUs: x.tsUs, bytes: frame(x.spec), iface: 1, flags: x.spec.src.port === 40001 ? 2 : 1 })),
    ];
    // Plus a UDP datagram in a simple packet block: decoded, counted as not TCP.
    const udp = frame({ src: { ip: '10.9.0.5', port: 53 }, dst: { ip: '10.9.0.6', port: 5353 }, seq: 0, flags: '' });
    udp[14 + 9] = 17;
    const f = join(dir, 'multi.pcapng');
    writeFileSync(f, pcapngFile([{ linktype: 1, name: 'eth0' }, { linktype: 1, name: 'eth1', tsresol: 9 }], [...frames, { tsUs: 0, bytes: udp, simple: true }], { unknownBlockAfter: 3 }));
    const recs = await analyse(f);
    const theirs = tsharkCounts(f);
    expect([...theirs.keys()].some((k) => k.startsWith('fd00:9::1:40002>') && k.endsWith(' fast_retransmission'))).toBe(true);
    expectSame(droptraceCounts(recs), theirs);
    const r6 = recs.find((r) => r.event.action === 'tcp-fast-retransmit');
    expect(r6.network.type).toBe('ipv6');
    expect(r6.observer.ingress.interface).toEqual({ id: '0', name: 'eth0' });
    // pcapng epb_flags: the client's packets were outbound.
    expect(recs.find((r) => r.event.action === 'tcp-keep-alive').network.direction).toBe('egress');
    const stats = recs.find((r) => r.event.action === 'pcap-file');
    expect(stats.droptrace.pcap.skipped_blocks).toBe(2);
    expect(stats.droptrace.pcap.skipped).toEqual({ non_tcp: 1 });
    expect(stats.droptrace.pcap.packets).toBe(frames.length + 1);
  });
});

describe('capture formats give identical analysis', () => {
  const conv = () => wrapScenario();
  const variants: Array<[string, () => Buffer]> = [
    ['pcap little-endian µs', () => pcapFile(conv().toFrames())],
    ['pcap big-endian ns', () => pcapFile(conv().toFrames(), { bigEndian: true, nano: true })],
    ['pcapng µs', () => pcapngFile([{ linktype: 1 }], conv().toFrames())],
    ['pcapng 2^-20 s resolution', () => pcapngFile([{ linktype: 1, tsresol: 0x94 }], conv().toFrames())],
    ['gzip pcap', () => gzipSync(pcapFile(conv().toFrames()))],
    ...(['sll', 'sll2', 'raw', 'null'] as Link[]).map((l): [string, () => Buffer] => [`link ${l}`, () => pcapFile(conv().toFrames(l), { linktype: LINKTYPES[l] })]),
  ];
  let reference: Counts;
  beforeAll(async () => {
    const f = join(dir, 'ref.pcap');
    writeFileSync(f, pcapFile(conv().toFrames()));
    reference = droptraceCounts(await analyse(f));
    expect(reference.size).toBeGreaterThan(5);
  });
  it.each(variants)('%s', async (name, make) => {
    const f = join(dir, `v-${name.replace(/\W+/g, '_')}`);
    writeFileSync(f, make());
    expectSame(droptraceCounts(await analyse(f)), reference);
  });
});
