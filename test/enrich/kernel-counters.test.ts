import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSnmp, coverage, readOwnCounters, RECONCILED } from '../../src/enrich/kernel-counters.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'procfs');
// This machine's /proc/net/snmp and /proc/net/netstat (Linux 6.18), verbatim.
const SNMP = readFileSync(join(FIX, 'snmp'), 'utf8');
const NETSTAT = readFileSync(join(FIX, 'netstat'), 'utf8');

describe('parseSnmp on real procfs text', () => {
  const m = parseSnmp(SNMP + '\n' + NETSTAT);

  it('reads every header/value pair of both files', () => {
    // Ip 20, Icmp 29, IcmpMsg 2, Tcp 15, Udp 9, UdpLite 9 | TcpExt 135, IpExt 18, MPTcpExt 76
    expect(m.size).toBe(20 + 29 + 2 + 15 + 9 + 9 + 135 + 18 + 76);
  });

  it('names counters Prefix.Name with their values, negatives included', () => {
    expect(m.get('Tcp.RetransSegs')).toBe(0);
    expect(m.get('Tcp.InSegs')).toBe(9947);
    expect(m.get('Tcp.MaxConn')).toBe(-1);
    expect(m.get('Ip.Forwarding')).toBe(2);
    expect(m.get('IcmpMsg.OutType3')).toBe(26);
    expect(m.get('TcpExt.TW')).toBe(86);
    expect(m.get('TcpExt.TCPOFOQueue')).toBe(1);
    expect(m.get('TcpExt.TCPLossProbes')).toBe(0);
    expect(m.get('IpExt.InOctets')).toBe(359354620);
    for (const { counters } of Object.values(RECONCILED)) for (const name of counters) expect(m.has(name), name).toBe(true);
  });

  it('each file alone, and the two concatenated without a separating newline', () => {
    expect(parseSnmp(SNMP).get('Tcp.RetransSegs')).toBe(0);
    expect(parseSnmp(SNMP).has('TcpExt.TW')).toBe(false);
    expect(parseSnmp(NETSTAT).get('TcpExt.TW')).toBe(86);
    expect(parseSnmp(SNMP + NETSTAT).size).toBe(m.size);
  });

  it('CRLF line ends and trailing spaces do not matter', () => {
    expect(parseSnmp((SNMP + NETSTAT).replace(/\n/g, ' \r\n'))).toEqual(m);
  });
});

describe('parseSnmp on odd input', () => {
  it.each([
    ['', 0],
    ['Tcp: RetransSegs\n', 0],
    ['Tcp: RetransSegs InSegs\nUdp: 1 2\n', 0],
    ['Tcp: RetransSegs InSegs\nTcp: x 2\n', 0],
    ['Tcp RetransSegs\nTcp 5\n', 0],
    ['garbage\nmore garbage\n', 0],
  ])('%j → %d counters', (text, n) => {
    expect(parseSnmp(text).size).toBe(n);
  });

  it('a short value line gives the counters it has', () => {
    expect([...parseSnmp('Tcp: A B C\nTcp: 1 2\n')]).toEqual([['Tcp.A', 1], ['Tcp.B', 2]]);
  });

  it('a header without its value line does not swallow the next pair', () => {
    expect([...parseSnmp('Udp: X Y\nTcp: RetransSegs\nTcp: 7\n')]).toEqual([['Tcp.RetransSegs', 7]]);
  });
});

describe('coverage', () => {
  const before = new Map([['Tcp.RetransSegs', 100], ['TcpExt.TCPFastRetrans', 40], ['TcpExt.TCPTimeouts', 5], ['TcpExt.TCPSlowStartRetrans', 20], ['TcpExt.TCPLossProbes', 10], ['TcpExt.TCPOFOQueue', 50]]);

  it('kernel deltas (summed where a signal spans two counters) vs traced; a ratio only where they count the same events', () => {
    const after = new Map([['Tcp.RetransSegs', 300], ['TcpExt.TCPFastRetrans', 190], ['TcpExt.TCPTimeouts', 8], ['TcpExt.TCPSlowStartRetrans', 65], ['TcpExt.TCPLossProbes', 13], ['TcpExt.TCPOFOQueue', 80]]);
    const rows = coverage(before, after, { retransmits: 199, fastRetransmits: 150, timeoutRetransmits: 48, lossProbes: 1, outOfOrder: 12 });
    expect(rows.map(({ note, ...r }) => r)).toEqual([
      { signal: 'retransmits', counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 200, traced: 199, coverage: 0.995 },
      { signal: 'fast_retransmits', counter: 'TcpExt.TCPFastRetrans', relation: 'equal', kernel: 150, traced: 150, coverage: 1 },
      { signal: 'timeout_retransmits', counter: 'TcpExt.TCPTimeouts+TcpExt.TCPSlowStartRetrans', relation: 'equal', kernel: 48, traced: 48, coverage: 1 },
      { signal: 'loss_probes', counter: 'TcpExt.TCPLossProbes', relation: 'at-most', kernel: 3, traced: 1, coverage: null },
      { signal: 'out_of_order', counter: 'TcpExt.TCPOFOQueue', relation: 'context', kernel: 30, traced: 12, coverage: null },
    ]);
    // Equal figures carry no note; every gap is explained in words, by direction.
    expect(rows.map((r) => r.note === undefined)).toEqual([false, true, true, false, false]);
    expect(rows[0].note).toMatch(/did not see/);
    expect(rows[3].note).toMatch(/new data/);
    expect(rows[4].note).toMatch(/holes/);
    const over = coverage(new Map(), new Map([['Tcp.RetransSegs', 3]]), { retransmits: 4 });
    expect(over[0].note).toMatch(/window boundary/);
  });

  it('nothing counted by the kernel: no ratio; a counter going backwards (netns recreated) is 0, not negative', () => {
    const after = new Map([['Tcp.RetransSegs', 100], ['TcpExt.TCPLossProbes', 2]]);
    const rows = coverage(before, after, { retransmits: 4 });
    expect(rows.map((r) => [r.kernel, r.traced, r.coverage])).toEqual([[0, 4, null], [0, 0, null], [0, 0, null], [0, 0, null], [0, 0, null]]);
  });

  it('rounds the ratio to 3 decimals and may exceed 1 (traced more than counted)', () => {
    const rows = coverage(new Map(), new Map([['Tcp.RetransSegs', 3]]), { retransmits: 4 });
    expect(rows[0].coverage).toBe(1.333);
  });

  it('the real fixture against itself: all zero deltas, no notes', () => {
    const m = parseSnmp(SNMP + '\n' + NETSTAT);
    expect(coverage(m, m, {}).map((r) => [r.kernel, r.note])).toEqual([[0, undefined], [0, undefined], [0, undefined], [0, undefined], [0, undefined]]);
  });
});

describe('readOwnCounters', () => {
  const root = mkdtempSync(join(tmpdir(), 'droptrace-proc-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads snmp and netstat under procRoot/self/net', async () => {
    mkdirSync(join(root, 'self/net'), { recursive: true });
    writeFileSync(join(root, 'self/net/snmp'), SNMP);
    writeFileSync(join(root, 'self/net/netstat'), NETSTAT);
    const m = await readOwnCounters(root);
    expect(m.get('Tcp.InSegs')).toBe(9947);
    expect(m.get('TcpExt.TCPOFOQueue')).toBe(1);
  });

  it('rejects when a file is missing', async () => {
    await expect(readOwnCounters(join(root, 'nope'))).rejects.toThrow();
  });
});
