import { describe, it, expect } from 'vitest';
import { TopState, categoryOf, SORT_KEYS } from '../../../src/views/top/top-state.js';
import { FlowAggregator } from '../../../src/aggregate/flow-records.js';
import type { EcsRecord, Action } from '../../../src/record/ecs.js';
import { fakeEnricher, ADDR } from '../../helpers/fake-enricher.js';
import { WIRE } from '../../helpers/catalog.js';
import { dropKey, dropOverflowKey, sockKey, incomingKey } from '../../helpers/probe-keys.js';

interface R {
  action?: Action; count?: number; end?: string; dir?: 'ingress' | 'egress'; reason?: string; proto?: string;
  src?: [string, number?]; dst?: [string, number?]; loc?: Record<string, unknown>; overflow?: boolean; final?: boolean; dataset?: string;
}
function rec(r: R = {}): EcsRecord {
  const action = r.action ?? 'packet-dropped';
  return {
    '@timestamp': '2024-01-01T00:00:00.000Z',
    event: { kind: 'metric', category: ['network'], action, dataset: (r.dataset ?? 'droptrace.flows') as 'droptrace.flows', reason: r.reason ?? 'NETFILTER_DROP', start: '2024-01-01T00:00:00.000Z', end: r.end ?? '2024-01-01T00:00:01.000Z' },
    network: { transport: r.proto ?? 'udp', direction: r.dir ?? 'ingress' },
    ...(r.src ? { source: { ip: r.src[0], ...(r.src[1] !== undefined ? { port: r.src[1] } : {}) } } : {}),
    ...(r.dst ? { destination: { ip: r.dst[0], ...(r.dst[1] !== undefined ? { port: r.dst[1] } : {}) } } : {}),
    droptrace: {
      count: r.count ?? 1,
      ...(r.loc ? { drop: { reason_code: 12, location: r.loc } } : {}),
      ...(r.overflow ? { overflow: { kernel_count: r.count ?? 1, collector_count: 0 } } : {}),
      ...(r.final ? { flow: { id: 'x', final: true, total_count: 99 } } : { flow: { id: 'x' } }),
    },
  };
}
const T1 = '2024-01-01T00:00:01.000Z';
const T2 = '2024-01-01T00:00:02.000Z';

describe('categoryOf', () => {
  it.each([
    ['packet-dropped', 'drops'], ['tcp-retransmit', 'retransmits'], ['tcp-loss-probe', 'retransmits'],
    ['tcp-incoming-out-of-order', 'incoming'], ['tcp-incoming-retransmit', 'incoming'], ['tcp-incoming-duplicate', 'incoming'],
    ['tcp-reset-sent', 'resets'], ['tcp-reset-received', 'resets'],
    ['events-lost', undefined], ['kernel-coverage', undefined], ['self-stats', undefined],
  ])('%s → %s', (a, c) => expect(categoryOf(a)).toBe(c));
});

describe('TopState.add', () => {
  it('flows: per lost-packet direction, label source → destination, counts per category', () => {
    const st = new TopState();
    st.add(rec({ count: 5, src: ['10.0.0.1', 5000], dst: ['10.0.0.2', 53] }));
    st.add(rec({ count: 2, src: ['10.0.0.1', 5000], dst: ['10.0.0.2', 53], reason: 'NO_SOCKET' }));
    st.add(rec({ count: 7, action: 'tcp-retransmit', reason: 'rto', proto: 'tcp', dir: 'egress', src: ['2001:db8::1', 443], dst: ['2001:db8::2', 50000] }));
    st.add(rec({ count: 3, action: 'tcp-incoming-out-of-order', reason: 'out-of-order', proto: 'tcp', src: ['10.0.0.9', 80], dst: ['10.0.0.1', 40000] }));
    const flows = st.top('flows', 'total', 10);
    expect(flows.map((r) => [r.label, r.direction, r.drops, r.retransmits, r.incoming, r.total, r.last, r.topReason])).toEqual([
      // A tie on total: by key.
      ['tcp [2001:db8::1]:443 → [2001:db8::2]:50000', 'egress', 0, 7, 0, 7, 7, 'rto'],
      ['udp 10.0.0.1:5000 → 10.0.0.2:53', 'ingress', 7, 0, 0, 7, 7, 'NETFILTER_DROP'],
      ['tcp 10.0.0.9:80 → 10.0.0.1:40000', 'ingress', 0, 0, 3, 3, 3, 'out-of-order'],
    ]);
    expect(st.top('reasons', 'total', 10).map((r) => [r.label, r.total])).toEqual([['rto', 7], ['NETFILTER_DROP', 5], ['out-of-order', 3], ['NO_SOCKET', 2]]);
    expect(st.windows).toBe(1);
    expect(st.lastWindowEnd).toBe(T1);
  });

  it('resets count in their own column', () => {
    const st = new TopState();
    st.add(rec({ count: 4, action: 'tcp-reset-sent', reason: 'TCP_ABORT_ON_CLOSE', proto: 'tcp', dir: 'egress', src: ['10.0.0.1', 80], dst: ['10.0.0.2', 40000] }));
    st.add(rec({ count: 1, action: 'tcp-reset-received', reason: 'SYN_SENT', proto: 'tcp', src: ['10.0.0.2', 81], dst: ['10.0.0.1', 40001] }));
    expect(st.top('flows', 'resets', 10).map((r) => [r.label, r.direction, r.drops, r.retransmits, r.incoming, r.resets, r.total, r.topReason])).toEqual([
      ['tcp 10.0.0.1:80 → 10.0.0.2:40000', 'egress', 0, 0, 0, 4, 4, 'TCP_ABORT_ON_CLOSE'],
      ['tcp 10.0.0.2:81 → 10.0.0.1:40001', 'ingress', 0, 0, 0, 1, 1, 'SYN_SENT'],
    ]);
  });

  it('the same endpoints in two directions are two rows', () => {
    const st = new TopState();
    st.add(rec({ src: ['10.0.0.1', 1], dst: ['10.0.0.2', 2], dir: 'ingress' }));
    st.add(rec({ src: ['10.0.0.1', 1], dst: ['10.0.0.2', 2], dir: 'egress' }));
    expect(st.tables.flows.size).toBe(2);
  });

  it('no ports (ICMP) and no addresses', () => {
    const st = new TopState();
    st.add(rec({ proto: 'icmp', src: ['10.0.0.1'], dst: ['10.0.0.2'] }));
    st.add(rec({ proto: '' }));
    expect(st.top('flows', 'total', 5).map((r) => r.label).sort()).toEqual([' * → *', 'icmp 10.0.0.1 → 10.0.0.2']);
  });

  it('the most frequent reason wins a row', () => {
    const st = new TopState();
    st.add(rec({ count: 2, reason: 'A', src: ['1.1.1.1', 1] }));
    st.add(rec({ count: 3, reason: 'B', src: ['1.1.1.1', 1] }));
    st.add(rec({ count: 1, reason: 'A', src: ['1.1.1.1', 1] }));
    expect(st.top('flows', 'total', 1)[0].topReason).toBe('B');
    st.add(rec({ count: 1, reason: 'A', src: ['1.1.1.1', 1] }));
    expect(st.top('flows', 'total', 1)[0].topReason).toBe('A');
  });

  it('locations: symbol+offset [module], or the raw address', () => {
    const st = new TopState();
    st.add(rec({ count: 4, loc: { address: '0xffffffffc0a013c4', symbol: 'nft_do_chain', offset: 0x3c4, module: 'nf_tables' } }));
    st.add(rec({ count: 1, loc: { address: '0xffffffff82046f4c', symbol: '__udp4_lib_rcv', offset: 0x14c } }));
    st.add(rec({ count: 2, loc: { address: '0xffffffff8badf00d' } }));
    st.add(rec({ count: 9, action: 'tcp-retransmit' }));
    expect(st.top('locations', 'total', 10).map((r) => [r.label, r.total])).toEqual([
      ['nft_do_chain+0x3c4 [nf_tables]', 4], ['0xffffffff8badf00d', 2], ['__udp4_lib_rcv+0x14c', 1],
    ]);
  });

  it('overflow records: one "other flows" row per action, counted in overflow', () => {
    const st = new TopState();
    st.add(rec({ count: 100, overflow: true }));
    st.add(rec({ count: 5, overflow: true, action: 'tcp-retransmit', dir: 'egress' }));
    expect(st.top('flows', 'total', 5).map((r) => r.label)).toEqual(['(other flows: packet-dropped)', '(other flows: tcp-retransmit)']);
    expect(st.overflow).toBe(105);
  });

  it('ignores finals, zero counts, other datasets and actions', () => {
    const st = new TopState();
    st.add(rec({ final: true, count: 0 }));
    st.add(rec({ final: true, count: 5 }));
    st.add(rec({ count: 0 }));
    st.add(rec({ dataset: 'droptrace.drops' }));
    st.add(rec({ action: 'kernel-coverage' }));
    st.add(rec({ action: 'events-lost' }));
    expect(st.tables.flows.size + st.tables.reasons.size + st.tables.locations.size).toBe(0);
    expect(st.windows).toBe(0);
  });

  it('"last" restarts with each window; totals accumulate', () => {
    const st = new TopState();
    st.add(rec({ count: 5, src: ['1.1.1.1', 1], end: T1 }));
    st.add(rec({ count: 2, src: ['2.2.2.2', 2], end: T1 }));
    st.add(rec({ count: 1, src: ['1.1.1.1', 1], end: T2 }));
    const rows = Object.fromEntries(st.top('flows', 'total', 5).map((r) => [r.label, [r.total, r.last]]));
    expect(rows).toEqual({ 'udp 1.1.1.1:1 → *': [6, 1], 'udp 2.2.2.2:2 → *': [2, 0] });
    expect(st.windows).toBe(2);
    expect(st.lastWindowEnd).toBe(T2);
  });

  it('bounded: beyond maxRows the smallest row is evicted', () => {
    const st = new TopState(3);
    for (const [p, c] of [[1, 10], [2, 1], [3, 5], [4, 7], [5, 2]]) st.add(rec({ count: c, src: ['1.1.1.1', p] }));
    expect(st.tables.flows.size).toBe(3);
    expect(st.top('flows', 'total', 10).map((r) => r.total)).toEqual([10, 7, 2]);
  });
});

describe('TopState.top sorting', () => {
  const st = new TopState();
  st.add(rec({ count: 10, src: ['1.1.1.1', 1], end: T1 }));
  st.add(rec({ count: 3, action: 'tcp-retransmit', src: ['2.2.2.2', 2], end: T1 }));
  st.add(rec({ count: 6, action: 'tcp-incoming-duplicate', src: ['3.3.3.3', 3], end: T1 }));
  st.add(rec({ count: 4, action: 'tcp-retransmit', src: ['2.2.2.2', 2], end: T2 }));
  st.add(rec({ count: 1, src: ['4.4.4.4', 4], end: T2 }));
  const order = (k: (typeof SORT_KEYS)[number]) => st.top('flows', k, 10).map((r) => r.label.split(' ')[1]);

  it.each([
    ['total', ['1.1.1.1:1', '2.2.2.2:2', '3.3.3.3:3', '4.4.4.4:4']],
    ['last', ['2.2.2.2:2', '4.4.4.4:4', '1.1.1.1:1', '3.3.3.3:3']],
    ['drops', ['1.1.1.1:1', '4.4.4.4:4', '2.2.2.2:2', '3.3.3.3:3']],
    ['retransmits', ['2.2.2.2:2', '1.1.1.1:1', '3.3.3.3:3', '4.4.4.4:4']],
    ['incoming', ['3.3.3.3:3', '1.1.1.1:1', '2.2.2.2:2', '4.4.4.4:4']],
  ] as const)('by %s (ties by total, then key)', (k, want) => {
    expect(order(k)).toEqual(want);
  });

  it('n limits the rows', () => {
    expect(st.top('flows', 'total', 2)).toHaveLength(2);
    expect(st.top('flows', 'total', 0)).toEqual([]);
  });

  it('every sort key is a numeric column', () => {
    for (const k of SORT_KEYS) expect(typeof st.top('flows', k, 1)[0][k]).toBe('number');
  });
});

describe('TopState fed by FlowAggregator', () => {
  it('sums what the aggregator emitted, overflow included, finals ignored', () => {
    const { enricher, clock } = fakeEnricher();
    const a = new FlowAggregator({ enricher, clock, wire: WIRE, hostName: 'h', intervalNs: 1_000_000_000n, phaseNs: 0n, startNs: 0n, maxFlows: 2, idleTimeoutMs: 1000 });
    const D = { netns: 1, ifindex: 3, iif: 3, dstIn: ADDR.ipLocalDeliver, loc: ADDR.nftDoChain, l3: 4, l4: 17, reason: 12, dport: 53, src: '10.0.0.1', dst: '10.0.0.2' } as const;
    const d = (sport: number, count: number) => ({ map: 'd', keys: dropKey({ ...D, sport }), count, total: 0, segments: 0 });
    const st = new TopState();
    const recs = [
      ...a.onWindow({ window: 5, closedAtNs: 5_100_000_000, final: false, entries: [d(1, 50), d(2, 20), d(3, 5), { map: 'od', keys: dropOverflowKey(D), count: 7, total: 0, segments: 0 },
        { map: 'r', keys: sockKey({ code: 1, netns: 1, state: 1, ca: 0, pending: 1, l3: 4, sport: 22, dport: 5000, src: '10.0.0.2', dst: '10.0.0.1' }), count: 4, total: 0, segments: 4 },
        { map: 'i', keys: incomingKey({ action: 1, netns: 1, l3: 4, peer: '10.0.0.1', peerPort: 5000, local: '10.0.0.2', localPort: 22 }), count: 2, total: 0, segments: 2 }] }),
      ...a.onWindow({ window: 8, closedAtNs: 8_100_000_000, final: false, entries: [] }),
    ];
    for (const r of recs) st.add(r);
    expect(recs.some((r) => (r.droptrace as any).flow?.final)).toBe(true);
    const total = [...st.tables.flows.values()].reduce((n, r) => n + r.total, 0);
    expect(total).toBe(50 + 20 + 5 + 7 + 4 + 2);
    // maxFlows 2 keeps 50 and 20; the rest (5, 4, 2) and the kernel overflow (7) are "other flows".
    expect(st.overflow).toBe(5 + 4 + 2 + 7);
    expect(st.top('flows', 'total', 1)[0].label).toBe('udp 10.0.0.1:1 → 10.0.0.2:53');
    expect(st.top('reasons', 'total', 1)[0].label).toBe('NETFILTER_DROP');
    expect(st.top('locations', 'total', 1)[0].label).toBe('nft_do_chain+0x3c4 [nf_tables]');
  });
});
