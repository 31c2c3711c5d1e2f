import { describe, it, expect } from 'vitest';
import { readFileSync, mkdtempSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseKfreeSkbFormat, loadReasons, ReasonTable } from '../../src/enrich/reasons.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tracefs');
const read = (f: string) => readFileSync(join(FIX, f), 'utf8');

/** Independent reading of the fixture: every `{ n, "NAME" }` pair. */
function pairs(text: string): Array<[number, string]> {
  return [...text.matchAll(/\{ (\d+), "([A-Z0-9_]+)" \}/g)].map((m) => [Number(m[1]), m[2]]);
}

describe('parseKfreeSkbFormat on the real 6.18 format file', () => {
  const text = read('kfree_skb.format');
  const t = parseKfreeSkbFormat(text);

  it('reads every reason except the MAX sentinel', () => {
    const all = pairs(text);
    expect(all.length).toBeGreaterThan(100);
    expect(all[all.length - 1][1]).toBe('MAX');
    expect(t.size).toBe(all.length - 1);
    for (const [code, name] of all.slice(0, -1)) expect(t.name(code)).toBe(name);
    expect(t.names()).not.toContain('MAX');
    expect(t.codeOf('MAX')).toBeUndefined();
  });

  it('knows the reasons the live tests rely on, with this kernel’s numbers', () => {
    expect(t.name(2)).toBe('NOT_SPECIFIED');
    expect(t.name(3)).toBe('NO_SOCKET');
    expect(t.name(12)).toBe('NETFILTER_DROP');
    expect(t.codeOf('NETFILTER_DROP')).toBe(12);
  });

  it('NOT_SPECIFIED (2) is the smallest real reason since 6.3', () => {
    expect(t.minCode()).toBe(2);
  });

  it('unknown codes get a stable placeholder name', () => {
    expect(t.name(0)).toBe('UNKNOWN_0');
    expect(t.name(1)).toBe('UNKNOWN_1');
    expect(t.name(9999)).toBe('UNKNOWN_9999');
  });

  it('codeOf accepts the SKB_DROP_REASON_ prefix and any case', () => {
    expect(t.codeOf('NO_SOCKET')).toBe(3);
    expect(t.codeOf('SKB_DROP_REASON_NO_SOCKET')).toBe(3);
    expect(t.codeOf('skb_drop_reason_no_socket')).toBe(3);
    expect(t.codeOf('netfilter_drop')).toBe(12);
    expect(t.codeOf('NO_SOCKETS')).toBeUndefined();
    expect(t.codeOf('SOCKET')).toBeUndefined();
    expect(t.codeOf('')).toBeUndefined();
  });
});

describe('parseKfreeSkbFormat on older kernels (synthetic formats)', () => {
  it('5.19–6.2 layout: reasons start at 1', () => {
    const text = read('kfree_skb-6.0-synthetic.format');
    const t = parseKfreeSkbFormat(text);
    expect(t.minCode()).toBe(1);
    expect(t.name(1)).toBe('NOT_SPECIFIED');
    expect(t.name(7)).toBe('NETFILTER_DROP');
    expect(t.codeOf('SKB_DROP_REASON_NETFILTER_DROP')).toBe(7);
    expect(t.size).toBe(pairs(text).length - 1);
    expect(t.names()).not.toContain('MAX');
  });

  it('5.17/5.18 layout: NOT_SPECIFIED is 0 and counts as the smallest reason', () => {
    const t = parseKfreeSkbFormat(read('kfree_skb-5.17-synthetic.format'));
    expect(t.name(0)).toBe('NOT_SPECIFIED');
    expect(t.minCode()).toBe(0);
    expect(t.size).toBe(6);
    expect(t.codeOf('UDP_CSUM')).toBe(5);
    expect(t.name(6)).toBe('UNKNOWN_6'); // MAX is not a reason
  });

  it('a format without __print_symbolic (kernel < 5.17) gives an empty table; minCode falls back to 1', () => {
    const old = 'name: kfree_skb\nformat:\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n\nprint fmt: "skbaddr=%p protocol=%u location=%p", REC->skbaddr, REC->protocol, REC->location\n';
    const t = parseKfreeSkbFormat(old);
    expect(t.size).toBe(0);
    expect(t.minCode()).toBe(1);
    expect(t.name(2)).toBe('UNKNOWN_2');
    expect(t.codeOf('NO_SOCKET')).toBeUndefined();
  });

  it('ignores symbolic tables of other fields', () => {
    const text = 'print fmt: "x=%s", __print_symbolic(REC->other, { 1, "NOPE" })\n';
    expect(parseKfreeSkbFormat(text).size).toBe(0);
  });
});

describe('ReasonTable', () => {
  it('minCode is the smallest key regardless of order', () => {
    expect(new ReasonTable(new Map([[9, 'B'], [4, 'A'], [30, 'C']])).minCode()).toBe(4);
  });
});

describe('loadReasons', () => {
  it('reads <tracefs>/events/skb/kfree_skb/format', () => {
    const root = mkdtempSync(join(tmpdir(), 'droptrace-tracefs-'));
    try {
      mkdirSync(join(root, 'events/skb/kfree_skb'), { recursive: true });
      copyFileSync(join(FIX, 'kfree_skb-6.0-synthetic.format'), join(root, 'events/skb/kfree_skb/format'));
      const t = loadReasons(root);
      expect(t.name(7)).toBe('NETFILTER_DROP');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('an unreadable tracefs gives an empty table, not an exception', () => {
    const t = loadReasons('/nonexistent/droptrace/tracefs');
    expect(t.size).toBe(0);
    expect(t.name(3)).toBe('UNKNOWN_3');
  });
});
