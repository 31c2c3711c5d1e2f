// Resets (probes/resets): a sent one names the kernel's reason, a received one
// the state it found the connection in; source and destination are the
// reset's own. Also decoded from its map key, as flow records are.
import { describe, expect, it } from 'vitest';
import type { ResetWire } from '../../src/enrich/resets.js';
import { Enricher } from '../../src/enrich/enricher.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';
import { ReasonTable } from '../../src/enrich/reasons.js';
import { MonotonicToWall } from '../../src/platform/clock.js';
import { SYMS, REASONS, fixedClock } from '../helpers/fake-enricher.js';
import { decodeLine, decodeEntry } from '../helpers/catalog.js';
import { mapLine, v4Word, v6Words } from '../helpers/probe-keys.js';

// This kernel's enum sk_rst_reason (6.18 tcp_send_reset format), in part.
const RESET_REASONS = new ReasonTable(new Map([[0, 'NOT_SPECIFIED'], [1, 'NO_SOCKET'], [11, 'TCP_ABORT_ON_CLOSE'], [14, 'TCP_STATE']]));
const enricher = (names: Record<string, ReasonTable> = { resetReason: RESET_REASONS }) =>
  new Enricher({ symbols: new KallsymsSymbolizer(SYMS), reasons: REASONS, names, hostName: 'node-1', clock: new MonotonicToWall(fixedClock) });

const ZERO6 = '0'.repeat(32);
const reset = (over: Partial<ResetWire> = {}): ResetWire => ({
  t: 'reset', ts: 2_000_000_000, dir: 1, state: 0, reason: 1, netns: 4026532301, l3: 4,
  s4: Number(v4Word('10.9.0.2')), d4: Number(v4Word('10.9.0.1')), s6: ZERO6, d6: ZERO6, sport: 7000, dport: 40000, cpu: 1, ...over,
});

describe('enrichReset', () => {
  it('a reset sent for a packet no socket took: the kernel\'s reason, egress from this host', () => {
    const r = enricher().enrich(reset());
    expect(r.event).toEqual({ kind: 'event', category: ['network'], type: ['connection', 'end'], action: 'tcp-reset-sent', dataset: 'droptrace.retransmits', reason: 'NO_SOCKET' });
    expect(r.network).toEqual({ type: 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' });
    expect(r.source).toEqual({ ip: '10.9.0.2', port: 7000 });
    expect(r.destination).toEqual({ ip: '10.9.0.1', port: 40000 });
    expect(r.droptrace).toMatchObject({ reset: { direction: 'sent', reason: 'NO_SOCKET', reason_code: 1 }, netns: { inode: 4026532301 }, path: 'local-out' });
    // No socket, no state.
    expect((r.droptrace as Record<string, unknown>).tcp).toBeUndefined();
  });

  it('an abort (close with unread data): its reason and the socket\'s state', () => {
    const r = enricher().enrich(reset({ reason: 11, state: 7 }));
    expect(r.event.reason).toBe('TCP_ABORT_ON_CLOSE');
    expect(r.droptrace).toMatchObject({ reset: { reason: 'TCP_ABORT_ON_CLOSE', reason_code: 11 }, tcp: { state: 'CLOSE' } });
  });

  it('a received reset: no reason of the kernel, the state it found (SYN_SENT: refused), ingress to this host', () => {
    const r = enricher().enrich(reset({ dir: 2, reason: 65535, state: 2, s4: Number(v4Word('10.9.0.2')), d4: Number(v4Word('10.9.0.1')) }));
    expect(r.event).toMatchObject({ action: 'tcp-reset-received', reason: 'SYN_SENT' });
    expect(r.network?.direction).toBe('ingress');
    expect(r.droptrace).toMatchObject({ reset: { direction: 'received' }, tcp: { state: 'SYN_SENT' }, path: 'local-in' });
    expect((r.droptrace as { reset: Record<string, unknown> }).reset.reason).toBeUndefined();
  });

  it('a kernel without reset reasons (before 6.10) or names: none invented', () => {
    expect(enricher().enrich(reset({ reason: 65535, state: 1 })).event.reason).toBe('ESTABLISHED');
    expect(enricher({}).enrich(reset({ reason: 14 })).event.reason).toBe('UNKNOWN_14');
  });

  it('IPv6', () => {
    const hex = (ip: string) => v6Words(ip).map((w) => w.toString(16).padStart(8, '0')).join('');
    const r = enricher().enrich(reset({ l3: 6, s4: 0, d4: 0, s6: hex('2001:db8::2'), d6: hex('2001:db8::1') }));
    expect([r.network?.type, r.source?.ip, r.destination?.ip]).toEqual(['ipv6', '2001:db8::2', '2001:db8::1']);
  });
});

describe('reset flows from the @e map', () => {
  it('the key packs dir, state, reason and family, then ports and addresses (probes/resets/probe.json): decoded and enriched as a window record would be', () => {
    const meta = (1n << 56n) | (7n << 48n) | (11n << 16n) | 4n;
    const keys = [4026532301n, meta, (7000n << 16n) | 40000n, v4Word('10.9.0.2'), 0n, 0n, 0n, v4Word('10.9.0.1'), 0n, 0n, 0n];
    const m = decodeLine(mapLine('e1', keys, 5, 0));
    expect(m.kind).toBe('map-entry');
    if (m.kind !== 'map-entry') return;
    expect(m.entry).toMatchObject({ map: 'e', count: 5, total: 0, segments: 0 });
    const d = decodeEntry(m.entry, 2_000_000_000)!;
    expect(d.event).toEqual({ t: 'reset', ts: 2_000_000_000, netns: 4026532301, dir: 1, state: 7, reason: 11, l3: 4, sport: 7000, dport: 40000, s4: Number(v4Word('10.9.0.2')), d4: Number(v4Word('10.9.0.1')) });
    const r = enricher().enrich(d.event);
    expect(r.event).toMatchObject({ action: 'tcp-reset-sent', reason: 'TCP_ABORT_ON_CLOSE' });
    // Overflow key: the destination side only.
    const over = decodeEntry({ map: 'oe', keys: [4026532301n, meta, 40000n, v4Word('10.9.0.1'), 0n, 0n, 0n], count: 9, total: 0, segments: 0 }, 1)!;
    expect(over.overflow).toBe(true);
    expect(enricher().enrich(over.event).source).toBeUndefined();
    // A direction the probe never prints is not a key we know.
    expect(decodeEntry({ map: 'e', keys: [1n, (3n << 56n) | 4n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n], count: 1, total: 0, segments: 0 }, 1)).toBeUndefined();
  });
});
