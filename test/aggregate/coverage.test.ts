import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coverage, RECONCILED } from '../../src/aggregate/coverage.js';
import { parseSnmp } from '../../src/platform/procfs-counters.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'procfs');
// This machine's /proc/net/snmp and /proc/net/netstat (Linux 6.18), verbatim.
const SNMP = readFileSync(join(FIX, 'snmp'), 'utf8');
const NETSTAT = readFileSync(join(FIX, 'netstat'), 'utf8');

describe('coverage', () => {
  it('every counter it reconciles against exists in this kernel\'s procfs (the real fixture)', () => {
    const m = parseSnmp(SNMP + '\n' + NETSTAT);
    for (const { counters } of Object.values(RECONCILED)) for (const name of counters) expect(m.has(name), name).toBe(true);
  });

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
