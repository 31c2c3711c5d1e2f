import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSnmp, readOwnCounters } from '../../src/platform/procfs-counters.js';

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
