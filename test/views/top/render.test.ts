import { describe, it, expect } from 'vitest';
import { renderTop, type Screen } from '../../../src/views/top/render.js';
import { TopState } from '../../../src/views/top/top-state.js';
import type { EcsRecord, Action } from '../../../src/record/ecs.js';

function rec(count: number, over: { action?: Action; reason?: string; src?: string; sport?: number; loc?: Record<string, unknown>; dir?: 'ingress' | 'egress'; end?: string } = {}): EcsRecord {
  return {
    '@timestamp': '2024-01-01T00:00:00.000Z',
    event: { kind: 'metric', category: ['network'], action: over.action ?? 'packet-dropped', dataset: 'droptrace.flows', reason: over.reason ?? 'NETFILTER_DROP', end: over.end ?? '2024-01-01T12:34:56.000Z' },
    network: { transport: 'udp', direction: over.dir ?? 'ingress' },
    source: { ip: over.src ?? '10.0.0.1', port: over.sport ?? 5000 },
    destination: { ip: '10.0.0.2', port: 53 },
    droptrace: { count, flow: { id: 'x' }, ...(over.loc ? { drop: { reason_code: 12, location: over.loc } } : {}) },
  };
}
const plain: Screen = { rows: 24, cols: 100, color: false };
const width = (s: string) => [...s].length;
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;

describe('renderTop', () => {
  it('header, status, counters, column titles, then rows biggest first', () => {
    const st = new TopState();
    st.lost = 3;
    st.suppressed = 17;
    st.add(rec(5, { sport: 1 }));
    st.add(rec(9, { sport: 2 }));
    const lines = renderTop(st, 'flows', 'total', { rows: 24, cols: 140, color: false }, 'running 0.23.2');
    expect(lines[0]).toMatch(/^droptrace top — running 0\.23\.2 +$/);
    expect(lines[1]).toMatch(/^windows 1 {2}last 12:34:56 {2}lost events 3 {2}kernel-skipped 0 {2}unattributed 0 {2}suppressed 17 {2}overflow 0 +$/);
    expect(lines[2]).toContain('sort: [s] total');
    expect(lines[3]).toMatch(/^FLOW \(lost packets: source → destination\) +DIR +DROPS +RETX +IN-LOSS +RST +\*TOTAL +LAST +TOP REASON/);
    expect(lines[4]).toMatch(/^udp 10\.0\.0\.1:2 → 10\.0\.0\.2:53 +ingress +9 +0 +0 +0 +9 +9 NETFILTER_DROP/);
    expect(lines[5]).toMatch(/^udp 10\.0\.0\.1:1 → /);
    expect(lines).toHaveLength(6);
  });

  it('an empty state says so', () => {
    const lines = renderTop(new TopState(), 'flows', 'total', plain, 's');
    expect(lines.at(-1)).toMatch(/^\(no loss seen yet\) *$/);
    expect(lines[1]).toContain('last -');
  });

  it.each([
    ['reasons', 'REASON / TYPE', 'NETFILTER_DROP'],
    ['locations', 'KERNEL LOCATION', 'nft_do_chain+0x3c4 [nf_tables]'],
  ] as const)('the %s view', (view, title, first) => {
    const st = new TopState();
    st.add(rec(4, { loc: { address: '0xffffffffc0a013c4', symbol: 'nft_do_chain', offset: 0x3c4, module: 'nf_tables' } }));
    const lines = renderTop(st, view, 'total', { rows: 24, cols: 140, color: false }, 's');
    expect(lines[3].startsWith(title)).toBe(true);
    expect(lines[4].startsWith(first)).toBe(true);
  });

  it.each([
    ['total', '*TOTAL'], ['last', '*LAST'], ['drops', '*DROPS'], ['retransmits', '*RETX'], ['incoming', '*IN-LOSS'], ['resets', '*RST'],
  ] as const)('marks the sort column: %s', (sort, mark) => {
    const header = renderTop(new TopState(), 'flows', sort, plain, 's')[3];
    expect(header).toContain(mark);
    expect(header.split('*')).toHaveLength(2);
  });

  it('rows and their order follow the sort key', () => {
    const st = new TopState();
    st.add(rec(10, { sport: 1 }));
    st.add(rec(3, { sport: 2, action: 'tcp-retransmit', reason: 'rto' }));
    const byRetx = renderTop(st, 'flows', 'retransmits', plain, 's');
    expect(byRetx[4]).toContain(':2 → ');
    expect(renderTop(st, 'flows', 'drops', plain, 's')[4]).toContain(':1 → ');
  });

  it('every line fits the width exactly, narrow and wide; rows fit the height', () => {
    const st = new TopState();
    for (let i = 0; i < 50; i++) st.add(rec(i + 1, { sport: i, src: `2001:db8:aaaa:bbbb:cccc:dddd:eeee:${i.toString(16)}`, reason: 'A_VERY_LONG_DROP_REASON_NAME_' + 'X'.repeat(i) }));
    for (const [rows, cols] of [[24, 80], [10, 40], [50, 200], [6, 120], [30, 20]]) {
      const lines = renderTop(st, 'flows', 'total', { rows, cols, color: false }, 'status '.repeat(40));
      for (const l of lines) expect(width(l), `${cols}: ${l}`).toBe(cols);
      expect(lines.length).toBeLessThanOrEqual(rows);
      // Truncation is visible.
      expect(lines.some((l) => l.endsWith('…'))).toBe(true);
    }
  });

  it('a short screen with rows to show does not claim there is no loss', () => {
    const st = new TopState();
    st.add(rec(5));
    for (const rows of [3, 4, 5]) {
      const lines = renderTop(st, 'flows', 'total', { rows, cols: 80, color: false }, 's');
      expect(lines.join('\n')).not.toContain('no loss seen yet');
    }
  });

  it('hostile names (ESC, C1, DEL, bidi overrides, zero-width) are escaped, never printed raw', () => {
    const st = new TopState();
    const evilSym = 'evil\u001b[2J\u001b]0;pwned\u0007\u202etxt.exe\u2066x\u200b\u009b31m\u007f';
    st.add(rec(5, { loc: { address: '0xffffffffc0a01000', symbol: evilSym, offset: 0, module: 'mod\u001b[31m\u202e' }, reason: 'R\u001b[1A\u2067' }));
    for (const view of ['flows', 'reasons', 'locations'] as const) {
      const lines = renderTop(st, view, 'total', { rows: 24, cols: 250, color: false }, 'ok');
      for (const l of lines) expect(CONTROLS.test(l), l).toBe(false);
    }
    const loc = renderTop(st, 'locations', 'total', { rows: 24, cols: 250, color: false }, 'ok')[4];
    expect(loc).toContain('evil\\x1b[2J\\x1b]0;pwned\\x07\\u{202e}txt.exe\\u{2066}x\\u{200b}\\x9b31m\\x7f+0x0 [mod\\x1b[31m\\u{202e}]');
    const reasons = renderTop(st, 'reasons', 'total', { rows: 24, cols: 250, color: false }, 'ok')[4];
    expect(reasons.startsWith('R\\x1b[1A\\u{2067}')).toBe(true);
  });

  it('escaping happens before fitting: an escaped name still fits the width', () => {
    const st = new TopState();
    st.add(rec(1, { reason: '\u202e'.repeat(100) }));
    const lines = renderTop(st, 'reasons', 'total', { rows: 10, cols: 60, color: false }, 's');
    for (const l of lines) expect(width(l)).toBe(60);
    expect(CONTROLS.test(lines.join(''))).toBe(false);
  });

  it('color: only our own bold and reverse-video sequences, visible width unchanged', () => {
    const st = new TopState();
    st.add(rec(1, { reason: 'X\u001b[5m' }));
    const lines = renderTop(st, 'reasons', 'total', { rows: 10, cols: 80, color: true }, 's');
    const seqs = lines.join('\n').match(/\u001b\[[0-9;]*m/g) ?? [];
    expect(new Set(seqs)).toEqual(new Set(['\u001b[1m', '\u001b[7m', '\u001b[0m']));
    // eslint-disable-next-line no-control-regex
    for (const l of lines) expect(width(l.replace(/\u001b\[[017]m/g, ''))).toBe(80);
    expect(lines[0].startsWith('\u001b[1m')).toBe(true);
    expect(lines[3].startsWith('\u001b[7m')).toBe(true);
  });
});
