import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { readNamespaceCounters } from '../../../src/diagnose/counters/read.js';
import type { Anchor } from '../../../src/diagnose/netns/anchor.js';
import { Tools } from '../../../src/diagnose/exec/tools.js';

const NET = join(import.meta.dirname, '..', '..', 'fixtures', 'diagnose', 'net');

function anchor(procNet: string | undefined, qdiscs?: unknown[]): Anchor {
  return {
    netns: { inode: 42, name: 'fx', self: false, handle: '/run/netns/fx' },
    procNet: () => procNet, handle: () => '/run/netns/fx', qdiscs: async () => qdiscs, close() {},
    problem: procNet ? undefined : 'nsenter not found and no process to read it through',
  };
}

describe('readNamespaceCounters (injectable procfs directory)', () => {
  const tools = new Tools('/nonexistent');

  it('reads snmp, netstat, snmp6, dev and nf_conntrack from the namespace\'s directory, plus qdiscs', async () => {
    const c = await readNamespaceCounters(anchor(NET, [{ dev: 'eth0', kind: 'fq_codel', handle: '0:', drops: 7, overlimits: 0, requeues: 1 }]), { tools, now: () => 123 });
    expect(c).toMatchObject({ inode: 42, name: 'fx', at: 123 });
    const sources = new Set(c.samples.map((s) => s.source));
    expect([...sources].sort()).toEqual(['dev', 'netstat', 'nf_conntrack', 'qdisc', 'snmp', 'snmp6']);
    expect(c.samples.find((s) => s.name === 'qdisc.drops')).toMatchObject({ iface: 'eth0', qdisc: 'fq_codel 0:', value: 7 });
    expect(c.conntrackEntries).toBeTypeOf('number');
    expect(c.unreadable).toBeUndefined();
  });

  it('an unreachable namespace says why and reads nothing', async () => {
    const c = await readNamespaceCounters(anchor(undefined), { tools });
    expect(c.samples).toEqual([]);
    expect(c.unreadable).toMatch(/nsenter/);
    const gone = await readNamespaceCounters(anchor('/nonexistent/net'), { tools });
    expect(gone.unreadable).toMatch(/cannot read/);
  });
});
