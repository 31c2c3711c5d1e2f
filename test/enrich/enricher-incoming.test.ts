import { describe, it, expect } from 'vitest';
import { incomingAction, type IncomingWire } from '../../src/enrich/incoming.js';
import { fakeEnricher } from '../helpers/fake-enricher.js';
import { v4Word, v6Words } from '../helpers/probe-keys.js';

const ZERO6 = '0'.repeat(32);
const hex6 = (ip: string) => v6Words(ip).map((w) => w.toString(16).padStart(8, '0')).join('');

function ev(over: Partial<IncomingWire> = {}): IncomingWire {
  return {
    t: 'incoming', action: 1, ts: 3_500_000_000, seq: 1_000_000, rcv_nxt: 990_000, netns: 4026532301, l3: 4,
    s4: Number(v4Word('10.3.0.1')), d4: Number(v4Word('10.3.0.2')), s6: ZERO6, d6: ZERO6, sport: 5001, dport: 40200, len: 10_000, cpu: 1,
    ...over,
  };
}

describe('Enricher.incoming (receiver-side loss from tcp_probe)', () => {
  it('an out-of-order arrival: the lost bytes came from the peer toward us', () => {
    const { enricher } = fakeEnricher();
    const r = enricher.enrich(ev());
    expect(r['@timestamp']).toBe('2024-01-01T00:00:02.500Z');
    expect(r.event).toEqual({
      kind: 'event', category: ['network'], type: ['connection'], action: 'tcp-incoming-out-of-order', dataset: 'droptrace.retransmits', reason: 'out-of-order',
    });
    expect(r.network).toEqual({ type: 'ipv4', transport: 'tcp', iana_number: '6', direction: 'ingress' });
    expect(r.source).toEqual({ ip: '10.3.0.1', port: 5001 });
    expect(r.destination).toEqual({ ip: '10.3.0.2', port: 40200 });
    expect(r.host).toEqual({ name: 'node-1' });
    expect(r.droptrace).toMatchObject({ incoming: { seq: 1_000_000, rcv_nxt: 990_000 }, netns: { inode: 4026532301 }, path: 'local-in', bytes: 10_000 });
    expect(r.droptrace.id).toBe('node-1-3500000000-1-incoming-0');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it.each([
    [1, 'tcp-incoming-out-of-order', 'out-of-order'],
    [2, 'tcp-incoming-retransmit', 'retransmit'],
    [3, 'tcp-incoming-duplicate', 'duplicate'],
  ] as const)('action %d → %s', (action, name, reason) => {
    const { enricher } = fakeEnricher();
    const r = enricher.enrich(ev({ action }));
    expect(r.event.action).toBe(name);
    expect(r.event.reason).toBe(reason);
    expect(incomingAction(action)).toBe(name);
  });

  it('codes outside 1..3 have no action name', () => {
    for (const c of [0, 4, 255, -1, 1.5]) expect(incomingAction(c)).toBeUndefined();
  });

  it('IPv6 and IPv4-mapped peers', () => {
    const { enricher } = fakeEnricher();
    const r = enricher.enrich(ev({ l3: 6, s4: 0, d4: 0, s6: hex6('2001:db8:1::1'), d6: hex6('2001:db8:2::2') }));
    expect(r.network?.type).toBe('ipv6');
    expect(r.source).toEqual({ ip: '2001:db8:1::1', port: 5001 });
    expect(r.destination).toEqual({ ip: '2001:db8:2::2', port: 40200 });
    const m = enricher.enrich(ev({ l3: 6, s4: 0, d4: 0, s6: hex6('::ffff:a03:1'), d6: hex6('::ffff:a03:2') }));
    expect(m.source?.ip).toBe('::ffff:10.3.0.1');
  });

  it('no bytes field when the length is 0', () => {
    const { enricher } = fakeEnricher();
    expect((enricher.enrich(ev({ len: 0 })).droptrace as Record<string, unknown>).bytes).toBeUndefined();
  });

  it('ids stay unique for events in the same ns on one CPU', () => {
    const { enricher } = fakeEnricher();
    const ids = [enricher.enrich(ev()), enricher.enrich(ev()), enricher.enrich(ev({ cpu: 0 })), enricher.enrich(ev({ ts: 3_500_000_001 }))].map((r) => r.droptrace.id);
    expect(ids).toEqual(['node-1-3500000000-1-incoming-0', 'node-1-3500000000-1-incoming-1', 'node-1-3500000000-0-incoming-0', 'node-1-3500000001-1-incoming-0']);
  });

  it('Enricher.enrich dispatches incoming events here (src/enrich/signals.ts)', () => {
    const { enricher } = fakeEnricher();
    expect(enricher.enrich(ev({ action: 2 })).event.action).toBe('tcp-incoming-retransmit');
  });
});
