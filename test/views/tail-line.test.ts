import { describe, it, expect } from 'vitest';
import { formatRecord } from '../../src/views/tail-line.js';
import type { EcsRecord } from '../../src/record/ecs.js';

const RAW_DANGEROUS = /[\u0000-\u0008\u000a-\u001a\u001c-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;
const ESC = '\x1b';

function dropRecord(over: { ifname?: string; reason?: string; symbol?: string; module?: string } = {}): EcsRecord {
  return {
    '@timestamp': '2024-01-01T14:03:07.123Z',
    event: { kind: 'event', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.drops', reason: over.reason ?? 'NETFILTER_DROP' },
    network: { type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' },
    source: { ip: '10.1.0.1', port: 40000 },
    destination: { ip: '10.1.0.2', port: 9999 },
    host: { name: 'h' },
    observer: { ingress: { interface: { id: '3', name: over.ifname ?? 'veth-b' } } },
    droptrace: {
      id: 'x',
      drop: { reason_code: 12, location: { address: '0xffffffffc0a013c4', symbol: over.symbol ?? 'nft_do_chain', offset: 0x3c4, module: over.module ?? 'nf_tables' } },
      netns: { inode: 4026532301 },
      path: 'local-in',
    },
  };
}

describe('formatRecord', () => {
  it('one readable line with time, action, reason, location, flow, direction, interface', () => {
    const line = formatRecord(dropRecord(), { color: false });
    expect(line).toBe('14:03:07.123  DROP  NETFILTER_DROP  nft_do_chain+0x3c4 [nf_tables]  udp 10.1.0.1:40000 → 10.1.0.2:9999  ingress/local-in  veth-b (netns 4026532301)');
  });

  it('no colour codes unless asked; colours when asked', () => {
    expect(formatRecord(dropRecord(), { color: false })).not.toContain(ESC);
    const c = formatRecord(dropRecord(), { color: true });
    expect(c).toContain(`${ESC}[31mDROP${ESC}[0m`);
    expect(c).toContain(`${ESC}[36mnft_do_chain+0x3c4 [nf_tables]${ESC}[0m`);
    // Stripping the SGR sequences gives back the plain line.
    expect(c.replace(/\x1b\[[0-9;]*m/g, '')).toBe(formatRecord(dropRecord(), { color: false }));
  });

  it('a hostile interface name (ESC, bidi, C1, newline) is printed escaped, on one line', () => {
    const hostile = `ev\x1b[2J\u202eil\u2066\x85\n\x07x`;
    for (const color of [false, true]) {
      const line = formatRecord(dropRecord({ ifname: hostile }), { color });
      expect(line).not.toMatch(RAW_DANGEROUS);
      expect(line).not.toContain('\n');
      // Only our own SGR colour sequences may contain ESC.
      expect(line.replace(/\x1b\[(?:\d+)m/g, '')).not.toContain(ESC);
      expect(line).toContain('ev\\x1b[2J\\u{202e}il\\u{2066}\\x85\\x0a\\x07x (netns 4026532301)');
    }
  });

  it('kernel-derived reason, symbol and module names are escaped too', () => {
    const line = formatRecord(dropRecord({ reason: 'BAD\x1b[31m', symbol: 'sym\u202e', module: 'mod\x9b' }), { color: false });
    expect(line).not.toMatch(RAW_DANGEROUS);
    expect(line).not.toContain(ESC);
    expect(line).toContain('BAD\\x1b[31m');
    expect(line).toContain('sym\\u{202e}+0x3c4 [mod\\x9b]');
  });

  it('IPv6 endpoints are bracketed; unknown interface names fall back to the index', () => {
    const r = dropRecord();
    r.source = { ip: '2001:db8::1', port: 443 };
    r.destination = { ip: '2001:db8::2', port: 5000 };
    r.observer = { egress: { interface: { id: '5' } } };
    r.network!.direction = 'egress';
    (r.droptrace as any).path = 'local-out';
    const line = formatRecord(r, { color: false });
    expect(line).toContain('udp [2001:db8::1]:443 → [2001:db8::2]:5000');
    expect(line).toContain('egress/local-out  if5 (netns 4026532301)');
  });

  it('an unresolved location prints the raw address', () => {
    const r = dropRecord();
    (r.droptrace as any).drop.location = { address: '0xffffffff81000000' };
    expect(formatRecord(r, { color: false })).toContain('NETFILTER_DROP  0xffffffff81000000  udp');
  });

  it('lost-event and gap records', () => {
    const lost: EcsRecord = {
      '@timestamp': '2024-01-01T00:00:01.000Z', event: { kind: 'metric', category: ['network'], action: 'events-lost', dataset: 'droptrace.drops' },
      droptrace: { lost: { count: 42 } },
    };
    expect(formatRecord(lost, { color: false })).toBe('00:00:01.000  LOST  bpftrace lost 42 events (output buffer full)');
    const gap: EcsRecord = {
      '@timestamp': '2024-01-01T00:00:02.000Z', event: { kind: 'metric', category: ['network'], action: 'tracer-gap', dataset: 'droptrace.drops' },
      droptrace: { gap: { start: 'A', end: 'B', cause: 'bpftrace killed by SIGKILL\x1b[2J' } },
    };
    const g = formatRecord(gap, { color: false });
    expect(g).toContain('GAP   tracer restarted; no events from A to B (bpftrace killed by SIGKILL\\x1b[2J)');
    expect(g).not.toContain(ESC);
  });

  it('a retransmit shows TCP state and no interface', () => {
    const r: EcsRecord = {
      '@timestamp': '2024-01-01T00:00:03.000Z',
      event: { kind: 'event', category: ['network'], action: 'tcp-retransmit', dataset: 'droptrace.retransmits', reason: 'rto' },
      network: { type: 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' },
      source: { ip: '10.2.0.1', port: 5201 }, destination: { ip: '10.2.0.2', port: 46000 },
      droptrace: { tcp: { state: 'ESTABLISHED' }, netns: { inode: 1 }, path: 'local-out' },
    };
    expect(formatRecord(r, { color: false })).toBe('00:00:03.000  RETX  rto  ESTABLISHED  tcp 10.2.0.1:5201 → 10.2.0.2:46000  egress/local-out  netns 1');
  });

  it('a reset sent (with the kernel reason) and one received', () => {
    const reset = (action: 'tcp-reset-sent' | 'tcp-reset-received', reason: string, direction: 'egress' | 'ingress'): EcsRecord => ({
      '@timestamp': '2024-01-01T00:00:04.000Z',
      event: { kind: 'event', category: ['network'], type: ['connection', 'end'], action, dataset: 'droptrace.retransmits', reason },
      network: { type: 'ipv4', transport: 'tcp', iana_number: '6', direction },
      source: { ip: '10.3.0.1', port: 80 }, destination: { ip: '10.3.0.2', port: 46000 },
      droptrace: { reset: { direction: direction === 'egress' ? 'sent' : 'received' }, tcp: { state: 'ESTABLISHED' }, netns: { inode: 1 }, path: direction === 'egress' ? 'local-out' : 'local-in' },
    });
    expect(formatRecord(reset('tcp-reset-sent', 'TCP_ABORT_ON_DATA', 'egress'), { color: false })).toBe('00:00:04.000  RST-OUT  TCP_ABORT_ON_DATA  ESTABLISHED  tcp 10.3.0.1:80 → 10.3.0.2:46000  egress/local-out  netns 1');
    expect(formatRecord(reset('tcp-reset-received', 'ESTABLISHED', 'ingress'), { color: true })).toContain(`${ESC}[33mRST-IN${ESC}[0m`);
  });
});
