import { describe, it, expect } from 'vitest';
import { Reconciler, type ReconcilerOptions } from '../../src/aggregate/reconcile.js';
import type { EcsRecord, Action } from '../../src/record/ecs.js';

const NS_A = 4026532301;
const NS_B = 4026532999;

function flow(action: Action, count: number, ns: number | null = NS_A, extra: Record<string, unknown> = {}): EcsRecord {
  return {
    '@timestamp': '2024-01-01T00:00:00.000Z',
    event: { kind: 'metric', category: ['network'], action, dataset: 'droptrace.flows' },
    droptrace: { count, ...(ns !== null ? { netns: { inode: ns } } : {}), ...extra },
  };
}

/** A counter reader over scripted snapshots per netns path; records each call. */
function reader(snapshots: Record<string, Array<Record<string, number> | Error>>) {
  const calls: string[] = [];
  const read: ReconcilerOptions['readCounters'] = async (path) => {
    calls.push(path);
    const next = snapshots[path]?.shift();
    if (!next) throw new Error(`no snapshot for ${path}`);
    if (next instanceof Error) throw next;
    return new Map(Object.entries(next));
  };
  return { read, calls };
}

const snap = (retrans: number, tlp: number, ofo: number, fast = 0) => ({ 'Tcp.RetransSegs': retrans, 'TcpExt.TCPFastRetrans': fast, 'TcpExt.TCPLossProbes': tlp, 'TcpExt.TCPOFOQueue': ofo });
/** A coverage entry without its explanation (tested in kernel-counters.test.ts). */
const cov = (r: EcsRecord, signal: string) => {
  const { note, ...rest } = (r.droptrace as any).coverage[signal];
  return rest;
};
const paths = (m: Record<number, string>) => (ns: number) => m[ns];
const W1 = ['2024-01-01T00:00:00.000Z', '2024-01-01T00:00:10.000Z'] as const;
const W2 = ['2024-01-01T00:00:10.000Z', '2024-01-01T00:00:20.000Z'] as const;
const W3 = ['2024-01-01T00:00:20.000Z', '2024-01-01T00:00:30.000Z'] as const;

describe('Reconciler', () => {
  it('the first window only takes a snapshot; the next compares kernel deltas with what was traced', async () => {
    const { read, calls } = reader({ '/run/netns/a': [snap(100, 5, 40, 7), snap(132, 7, 60, 27)] });
    const rc = new Reconciler({ hostName: 'node-1', readCounters: read, netnsPath: paths({ [NS_A]: '/run/netns/a' }) });
    rc.observe(flow('tcp-retransmit', 10));
    expect(await rc.closeWindow(...W1)).toEqual([]);
    // Segments, not skbs: a TSO skb of 3 segments is 3 in RetransSegs.
    rc.observe(flow('tcp-retransmit', 18, NS_A, { segments: 20, retransmit: { type: 'fast' } }));
    rc.observe(flow('tcp-retransmit', 9));
    // An inferred probe is a retransmitted segment too.
    rc.observe(flow('tcp-loss-probe', 2, NS_A, { retransmit: { type: 'tlp', tlp_source: 'inferred' } }));
    rc.observe(flow('tcp-incoming-out-of-order', 4));
    rc.observe(flow('tcp-incoming-retransmit', 100));
    rc.observe(flow('packet-dropped', 1000));
    const out = await rc.closeWindow(...W2);
    expect(calls).toEqual(['/run/netns/a', '/run/netns/a']);
    expect(out).toHaveLength(1);
    expect({ ...out[0], droptrace: { ...out[0].droptrace, coverage: undefined } }).toEqual({
      '@timestamp': W2[1],
      event: { kind: 'metric', category: ['network'], action: 'kernel-coverage', dataset: 'droptrace.stats', start: W2[0], end: W2[1] },
      host: { name: 'node-1' },
      droptrace: { id: `node-1-coverage-${NS_A}-${Date.parse(W2[1])}`, netns: { inode: NS_A }, coverage: undefined },
    });
    expect(cov(out[0], 'retransmits')).toEqual({ counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 32, traced: 31, ratio: 0.969 });
    expect(cov(out[0], 'fast_retransmits')).toEqual({ counter: 'TcpExt.TCPFastRetrans', relation: 'equal', kernel: 20, traced: 20, ratio: 1 });
    expect(cov(out[0], 'loss_probes')).toEqual({ counter: 'TcpExt.TCPLossProbes', relation: 'at-most', kernel: 2, traced: 2 });
    expect(cov(out[0], 'out_of_order')).toEqual({ counter: 'TcpExt.TCPOFOQueue', relation: 'context', kernel: 20, traced: 4 });
    expect((out[0].droptrace as any).coverage.retransmits.note).toMatch(/did not see/);
  });

  it('a baselined namespace (one the user named) is reconciled from its first window; an unknown or unreadable one is left to the first-window rule', async () => {
    const { read, calls } = reader({ '/run/netns/a': [snap(100, 0, 0), snap(112, 0, 0)], '/run/netns/b': [new Error('gone')] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: paths({ [NS_A]: '/run/netns/a', [NS_B]: '/run/netns/b' }) });
    await rc.baseline([NS_A, NS_B, 4026530000]);
    expect(calls).toEqual(['/run/netns/a', '/run/netns/b']);
    expect(rc.errors).toBe(1);
    rc.observe(flow('tcp-retransmit', 11));
    const out = await rc.closeWindow(...W1);
    expect(out).toHaveLength(1);
    expect(cov(out[0], 'retransmits')).toEqual({ counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 12, traced: 11, ratio: 0.917 });
  });

  it('counts only window records of flows: not finals, events, stats, zero counts or records without a netns', async () => {
    const { read } = reader({ a: [snap(0, 0, 0), snap(50, 0, 0)] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: paths({ [NS_A]: 'a' }) });
    // Nothing seen yet: no namespace to read.
    expect(await rc.closeWindow(...W1)).toEqual([]);
    // A drop makes the namespace known (first snapshot) without adding to a TCP counter.
    rc.observe(flow('packet-dropped', 3));
    expect(await rc.closeWindow(...W1)).toEqual([]);
    rc.observe(flow('tcp-retransmit', 5));
    rc.observe(flow('tcp-retransmit', 0, NS_A, { flow: { final: true, total_count: 99 } }));
    rc.observe(flow('tcp-retransmit', 7, NS_A, { flow: { id: 'x', final: true } }));
    rc.observe({ ...flow('tcp-retransmit', 11), event: { ...flow('tcp-retransmit', 11).event, dataset: 'droptrace.retransmits' } });
    rc.observe(flow('tcp-retransmit', 0));
    // Overflow records carry no netns: they cannot be attributed.
    rc.observe(flow('tcp-retransmit', 13, null, { overflow: { kernel_count: 13, collector_count: 0 } }));
    const [r] = await rc.closeWindow(...W2);
    expect(cov(r, 'retransmits')).toEqual({ counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 50, traced: 5, ratio: 0.1 });
  });

  it('one record per namespace; traced counts start again each window; quiet namespaces keep being compared', async () => {
    const { read } = reader({ a: [snap(0, 0, 0), snap(10, 0, 0), snap(10, 0, 0)], b: [snap(0, 0, 0), snap(3, 0, 0), snap(4, 0, 0)] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: paths({ [NS_A]: 'a', [NS_B]: 'b' }) });
    rc.observe(flow('tcp-retransmit', 1, NS_A));
    rc.observe(flow('tcp-retransmit', 1, NS_B));
    await rc.closeWindow(...W1);
    rc.observe(flow('tcp-retransmit', 10, NS_A));
    rc.observe(flow('tcp-retransmit', 3, NS_B));
    const w2 = await rc.closeWindow(...W2);
    const byNs = (rs: EcsRecord[]) => Object.fromEntries(rs.map((r) => [(r.droptrace as any).netns.inode, cov(r, 'retransmits')]));
    expect(byNs(w2)).toEqual({
      [NS_A]: { counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 10, traced: 10, ratio: 1 },
      [NS_B]: { counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 3, traced: 3, ratio: 1 },
    });
    // Nothing traced in window 3: A had nothing to see, B missed one.
    const w3 = await rc.closeWindow(...W3);
    expect(byNs(w3)).toEqual({
      [NS_A]: { counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 0, traced: 0 },
      [NS_B]: { counter: 'Tcp.RetransSegs', relation: 'equal', kernel: 1, traced: 0, ratio: 0 },
    });
    expect(new Set([...w2, ...w3].map((r) => r.droptrace.id)).size).toBe(4);
  });

  it('a namespace that cannot be entered any more is forgotten', async () => {
    let gone = false;
    const { read, calls } = reader({ a: [snap(0, 0, 0), snap(1, 0, 0)] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: (ns) => (ns === NS_A && !gone ? 'a' : undefined) });
    rc.observe(flow('tcp-retransmit', 1));
    await rc.closeWindow(...W1);
    gone = true;
    rc.observe(flow('tcp-retransmit', 1));
    expect(await rc.closeWindow(...W2)).toEqual([]);
    gone = false;
    // Back again: it needs a fresh snapshot first (the old one was dropped).
    rc.observe(flow('tcp-retransmit', 1));
    expect(await rc.closeWindow(...W3)).toEqual([]);
    expect(calls).toEqual(['a', 'a']);
  });

  it('a failed read is counted, emits nothing, and keeps the previous snapshot', async () => {
    const { read } = reader({ a: [snap(0, 0, 0), new Error('nsenter: permission denied'), snap(40, 0, 0)] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: paths({ [NS_A]: 'a' }) });
    rc.observe(flow('tcp-retransmit', 1));
    await rc.closeWindow(...W1);
    rc.observe(flow('tcp-retransmit', 15));
    expect(await rc.closeWindow(...W2)).toEqual([]);
    expect(rc.errors).toBe(1);
    rc.observe(flow('tcp-retransmit', 25));
    const [r] = await rc.closeWindow(...W3);
    // The delta spans both windows (from the last good snapshot); traced only this one.
    expect((r.droptrace as any).coverage.retransmits).toMatchObject({ kernel: 40, traced: 25 });
  });

  it('follows at most maxNamespaces namespaces', async () => {
    const { read, calls } = reader({ a: [snap(0, 0, 0)], b: [snap(0, 0, 0)] });
    const rc = new Reconciler({ hostName: 'h', readCounters: read, netnsPath: paths({ [NS_A]: 'a', [NS_B]: 'b' }), maxNamespaces: 1 });
    rc.observe(flow('packet-dropped', 5, NS_A));
    rc.observe(flow('tcp-retransmit', 5, NS_B));
    await rc.closeWindow(...W1);
    expect(calls).toEqual(['a']);
  });
});
