import { describe, it, expect } from 'vitest';
import { DistinctCounter } from '../../../src/views/top/distinct.js';
import { TopState, prefixOf } from '../../../src/views/top/top-state.js';
import { renderTop } from '../../../src/views/top/render.js';
import type { EcsRecord } from '../../../src/record/ecs.js';

function rec(src: string, sport: number, dst = '10.0.0.2', dport = 4300, count = 5, reason = 'NETFILTER_DROP'): EcsRecord {
  return {
    '@timestamp': 't', event: { kind: 'metric', category: ['network'], action: 'packet-dropped', dataset: 'droptrace.flows', reason, end: 'w1' },
    network: { transport: 'udp', direction: 'ingress' }, source: { ip: src, port: sport }, destination: { ip: dst, port: dport },
    droptrace: { count, flow: { id: 'x' } },
  } as EcsRecord;
}

describe('DistinctCounter', () => {
  it('exact up to 1,024 keys, then an estimate within a few per cent', () => {
    const d = new DistinctCounter();
    for (let i = 0; i < 1000; i++) d.add(`k${i % 700}`);
    expect(d.size).toBe(700);
    expect(d.estimated).toBe(false);
    for (let i = 0; i < 60_000; i++) d.add(`p${i}`);
    expect(d.estimated).toBe(true);
    expect(Math.abs(d.size - 60_700) / 60_700).toBeLessThan(0.08);
  });
});

describe('top roll-ups', () => {
  it('a flood from many source ports is one service row with its flow count; sources and /24 prefixes too', () => {
    const st = new TopState();
    for (let p = 0; p < 3000; p++) st.add(rec('10.9.8.7', 1024 + p));
    st.add(rec('10.9.8.8', 1, '10.0.0.2', 4300, 7));
    st.add(rec('10.1.1.1', 1, '10.0.0.3', 53, 1, 'NO_SOCKET'));
    const svc = st.top('services', 'total', 10);
    expect(svc[0]).toMatchObject({ label: 'udp * → 10.0.0.2:4300', drops: 15_007, topReason: 'NETFILTER_DROP' });
    expect(svc[0].flows!.size).toBeGreaterThan(2800);
    expect(svc[1]).toMatchObject({ label: 'udp * → 10.0.0.3:53', topReason: 'NO_SOCKET' });
    expect(svc[1].flows!.size).toBe(1);
    expect(st.top('sources', 'total', 10).map((r) => [r.label, r.drops])).toEqual([['10.9.8.7 → *', 15_000], ['10.9.8.8 → *', 7], ['10.1.1.1 → *', 1]]);
    expect(st.top('prefixes', 'total', 10).map((r) => r.label)).toEqual(['10.9.8.0/24 → *', '10.1.1.0/24 → *']);
    const lines = renderTop(st, 'services', 'total', { rows: 10, cols: 160, color: false }, 's');
    expect(lines[3]).toMatch(/FLOWS/);
    expect(lines[4]).toMatch(/^udp \* → 10\.0\.0\.2:4300 .* ~?\d{4} NETFILTER_DROP/);
  });

  it('prefixOf: /24 for IPv4, /64 for IPv6', () => {
    expect(prefixOf('192.0.2.77')).toBe('192.0.2.0/24');
    expect(prefixOf('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(prefixOf(undefined)).toBe('(unknown source)');
  });
});
