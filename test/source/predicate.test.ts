import { describe, it, expect } from 'vitest';
import { compilePredicate, assertSafePredicate, type ResolvedFilters } from '../../src/source/predicate.js';
import { parseFilters, type RawFilters } from '../../src/filters/filters.js';
import { UsageError } from '../../src/errors.js';

const VARS = new Set(['$l3', '$l4', '$s4', '$d4', '$s6a', '$s6b', '$s6c', '$s6d', '$d6a', '$d6b', '$d6c', '$d6d', '$sport', '$dport', '$netns', '$ifindex', '$iif', '$reason']);

function resolved(raw: RawFilters, extra: Partial<ResolvedFilters> = {}): ResolvedFilters {
  const f = parseFilters(raw);
  return { hosts: f.hosts, ports: f.ports, protos: f.protos, netns: f.netns, ifindexes: [], reasonCodes: [], excludeReasonCodes: [], ...extra };
}

/** Only fixed variables, integers, parentheses and comparison/boolean operators. */
function expectOnlyAllowedTokens(pred: string): void {
  expect(pred).toMatch(/^[0-9a-z$ ()&|=!<>]*$/);
  const tokens = pred.split(/[\s()]+/).filter(Boolean);
  const bad = tokens.filter((t) => !(VARS.has(t) || /^(0|[1-9]\d*)$/.test(t) || ['&&', '||', '==', '!=', '>=', '<=', '&'].includes(t)));
  expect(bad, pred).toEqual([]);
  // Parentheses balance.
  let depth = 0;
  let minDepth = 0;
  for (const c of pred) {
    depth += c === '(' ? 1 : c === ')' ? -1 : 0;
    minDepth = Math.min(minDepth, depth);
  }
  expect([minDepth, depth], pred).toEqual([0, 0]);
}
function numbersIn(pred: string): number[] {
  return [...pred.matchAll(/(?<![$\w])\d+/g)].map((m) => Number(m[0]));
}

/** Evaluate a predicate against variable values, the way bpftrace would (unsigned 64-bit). */
function evaluate(pred: string, vars: Record<string, number>): boolean {
  expectOnlyAllowedTokens(pred);
  const js = pred.replace(/\$[a-z0-9]+|\d+/g, (t) => {
    if (!t.startsWith('$')) return `${t}n`;
    if (!(t in vars)) throw new Error(`unbound ${t}`);
    return `${vars[t]}n`;
  });
  const r: unknown = new Function(`return (${js});`)();
  return typeof r === 'bigint' ? r !== 0n : Boolean(r);
}

/** LE word the probe reads for a.b.c.d. */
const le = (a: number, b: number, c: number, d: number) => (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;

const ZERO6 = { $s6a: 0, $s6b: 0, $s6c: 0, $s6d: 0, $d6a: 0, $d6b: 0, $d6c: 0, $d6d: 0 };
function pkt(over: Record<string, number> = {}): Record<string, number> {
  return { $l3: 4, $l4: 17, $s4: le(10, 1, 0, 1), $d4: le(10, 1, 0, 2), ...ZERO6, $sport: 40000, $dport: 9999, $netns: 4026531840, $ifindex: 3, $iif: 3, $reason: 3, ...over };
}

describe('compilePredicate', () => {
  it('no filters → `1` for both probe kinds', () => {
    expect(compilePredicate(resolved({}), 'drop')).toBe('1');
    expect(compilePredicate(resolved({}), 'tcp-sock')).toBe('1');
  });

  it('an IPv4 address matches either side with a full LE mask and the LE word', () => {
    const p = compilePredicate(resolved({ host: ['10.1.0.2'] }), 'drop')!;
    expectOnlyAllowedTokens(p);
    expect(p).toContain(`($s4 & 4294967295) == ${le(10, 1, 0, 2)}`);
    expect(p).toContain(`($d4 & 4294967295) == ${le(10, 1, 0, 2)}`);
    expect(p).toContain('$l3 == 4');
    expect(new Set(numbersIn(p))).toEqual(new Set([4, 4294967295, 33554698]));
    expect(evaluate(p, pkt())).toBe(true); // destination matches
    expect(evaluate(p, pkt({ $s4: le(10, 1, 0, 2), $d4: le(8, 8, 8, 8) }))).toBe(true); // source matches
    expect(evaluate(p, pkt({ $d4: le(10, 1, 0, 3) }))).toBe(false);
    expect(evaluate(p, pkt({ $l3: 6 }))).toBe(false);
  });

  it('IPv4 CIDRs use the LE-word mask of the prefix', () => {
    const p8 = compilePredicate(resolved({ host: ['10.0.0.0/8'] }), 'drop')!;
    expect(p8).toContain('($s4 & 255) == 10');
    const p23 = compilePredicate(resolved({ host: ['10.1.3.77/23'] }), 'drop')!;
    // mask bytes ff ff fe 00 → LE 0x00feffff; network 10.1.2.0 → LE 0x0002010a.
    expect(p23).toContain(`($s4 & ${0x00feffff}) == ${0x0002010a}`);
    expect(evaluate(p23, pkt({ $s4: le(10, 1, 3, 200), $d4: 0 }))).toBe(true);
    expect(evaluate(p23, pkt({ $s4: le(10, 1, 2, 1), $d4: 0 }))).toBe(true);
    expect(evaluate(p23, pkt({ $s4: le(10, 1, 4, 1), $d4: 0 }))).toBe(false);
    const p0 = compilePredicate(resolved({ host: ['0.0.0.0/0'] }), 'drop')!;
    expect(evaluate(p0, pkt({ $s4: le(1, 2, 3, 4) }))).toBe(true);
    expect(evaluate(p0, pkt({ $l3: 6 }))).toBe(false);
  });

  it('IPv6 CIDRs compare only the words the prefix covers', () => {
    const p = compilePredicate(resolved({ host: ['2001:db8::/32'] }), 'drop')!;
    expectOnlyAllowedTokens(p);
    // 20 01 0d b8 read LE = 0xb80d0120.
    expect(p).toContain(`($s6a & 4294967295) == ${0xb80d0120}`);
    expect(p).not.toContain('$s6b');
    expect(p).toContain('$l3 == 6');
    const match = { $l3: 6, $s6a: 0xb80d0120, $s6b: 0, $s6c: 0, $s6d: 0x01000000 };
    expect(evaluate(p, pkt({ ...match }))).toBe(true);
    expect(evaluate(p, pkt({ ...match, $s6a: 0xb90d0120 }))).toBe(false);

    const host = compilePredicate(resolved({ host: ['2001:db8::1'] }), 'drop')!;
    for (const w of ['a', 'b', 'c', 'd']) expect(host).toContain(`$d6${w} & 4294967295`);
    expect(host).toContain(`== ${0x01000000})`); // last word: 00 00 00 01 read LE
    expect(evaluate(host, pkt({ ...match, $d6a: 0xb80d0120, $d6d: 0x01000000, $s6a: 0 }))).toBe(true);
    expect(evaluate(host, pkt({ ...match, $d6a: 0xb80d0120, $d6d: 0x02000000, $s6a: 0, $s6d: 0 }))).toBe(false);

    const p33 = compilePredicate(resolved({ host: ['2001:db8:ffff::/33'] }), 'drop')!;
    // Second word mask: byte 4 = 0x80 only → LE 0x00000080; network byte 4 = 0x80.
    expect(p33).toContain('($s6b & 128) == 128');
    expect(compilePredicate(resolved({ host: ['::/0'] }), 'drop')).toBe('(($l3 == 6 && (1 || 1)))');
  });

  it('ports and ranges match either side', () => {
    const p = compilePredicate(resolved({ port: ['53', '8000-8080'] }), 'drop')!;
    expectOnlyAllowedTokens(p);
    expect(new Set(numbersIn(p))).toEqual(new Set([53, 8000, 8080]));
    expect(evaluate(p, pkt({ $sport: 53 }))).toBe(true);
    expect(evaluate(p, pkt({ $dport: 53 }))).toBe(true);
    expect(evaluate(p, pkt({ $dport: 8080 }))).toBe(true);
    expect(evaluate(p, pkt({ $sport: 8000 }))).toBe(true);
    expect(evaluate(p, pkt({ $dport: 8081 }))).toBe(false);
    expect(evaluate(p, pkt({ $sport: 7999, $dport: 54 }))).toBe(false);
  });

  it('protocols: an L4 clause for drops; TCP socket probes only when tcp is wanted', () => {
    const r = resolved({ proto: ['udp', 'icmp'] });
    const p = compilePredicate(r, 'drop')!;
    expect(p).toBe('(($l4 == 17 || $l4 == 1))');
    expect(compilePredicate(r, 'tcp-sock')).toBeNull();
    const t = resolved({ proto: ['tcp', 'udp'] });
    expect(compilePredicate(t, 'tcp-sock')).toBe('1');
    expect(compilePredicate(t, 'drop')).toBe('(($l4 == 6 || $l4 == 17))');
  });

  it('netns applies to both kinds', () => {
    const r = resolved({ netns: ['net:[4026532301]'] });
    expect(compilePredicate(r, 'drop')).toBe('($netns == 4026532301)');
    expect(compilePredicate(r, 'tcp-sock')).toBe('($netns == 4026532301)');
  });

  it('interfaces and reasons restrict drops and exclude TCP socket probes', () => {
    const r = resolved({}, { ifindexes: [3, 7] });
    const p = compilePredicate(r, 'drop')!;
    expect(p).toBe('((($ifindex == 3 || $iif == 3) || ($ifindex == 7 || $iif == 7)))');
    expect(evaluate(p, pkt({ $ifindex: 0, $iif: 7 }))).toBe(true);
    expect(evaluate(p, pkt({ $ifindex: 5, $iif: 5 }))).toBe(false);
    expect(compilePredicate(r, 'tcp-sock')).toBeNull();
    const rs = resolved({}, { reasonCodes: [12] });
    expect(compilePredicate(rs, 'drop')).toBe('($reason == 12)');
    expect(compilePredicate(rs, 'tcp-sock')).toBeNull();
  });

  it('excluded reasons apply to drops only and never turn TCP probes off', () => {
    const r = resolved({}, { excludeReasonCodes: [2, 3] });
    const p = compilePredicate(r, 'drop')!;
    expect(p).toBe('($reason != 2 && $reason != 3)');
    expect(evaluate(p, pkt({ $reason: 12 }))).toBe(true);
    expect(evaluate(p, pkt({ $reason: 3 }))).toBe(false);
    expect(compilePredicate(r, 'tcp-sock')).toBe('1');
  });

  it('combines different flags with AND', () => {
    const r = resolved({ host: ['10.1.0.0/16'], port: ['9999'], proto: ['udp'], netns: ['4026531840'] }, { excludeReasonCodes: [2] });
    const p = compilePredicate(r, 'drop')!;
    expectOnlyAllowedTokens(p);
    expect(evaluate(p, pkt())).toBe(true);
    expect(evaluate(p, pkt({ $dport: 9998 }))).toBe(false);
    expect(evaluate(p, pkt({ $l4: 6 }))).toBe(false);
    expect(evaluate(p, pkt({ $netns: 1 }))).toBe(false);
    expect(evaluate(p, pkt({ $reason: 2 }))).toBe(false);
    expect(evaluate(p, pkt({ $s4: le(10, 2, 0, 1), $d4: le(10, 2, 0, 2) }))).toBe(false);
  });

  it('random valid filters always compile to the allowed alphabet', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 48271) % 2147483647) % n);
    for (let i = 0; i < 200; i++) {
      const raw: RawFilters = {
        host: rnd(2) ? [`${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}/${rnd(33)}`, `2001:db8:${rnd(65536).toString(16)}::${rnd(65536).toString(16)}/${rnd(129)}`] : undefined,
        port: rnd(2) ? [`${1 + rnd(65535)}`, `${1 + rnd(1000)}-${1001 + rnd(64000)}`] : undefined,
        proto: rnd(2) ? [String(rnd(256)), 'tcp'] : undefined,
        netns: rnd(2) ? [String(1 + rnd(2 ** 31))] : undefined,
      };
      const r = resolved(raw, { ifindexes: rnd(2) ? [1 + rnd(100)] : [], reasonCodes: rnd(2) ? [rnd(130)] : [], excludeReasonCodes: rnd(2) ? [rnd(130)] : [] });
      for (const kind of ['drop', 'tcp-sock'] as const) {
        const p = compilePredicate(r, kind);
        if (p !== null) expectOnlyAllowedTokens(p);
      }
    }
  });

  it('refuses to render a number that is not a non-negative safe integer', () => {
    expect(() => compilePredicate(resolved({}, { netns: [-1] }), 'drop')).toThrow(/refusing to render/);
    expect(() => compilePredicate(resolved({}, { ifindexes: [1.5] }), 'drop')).toThrow(/refusing to render/);
    expect(() => compilePredicate(resolved({}, { reasonCodes: [Number.NaN] }), 'drop')).toThrow(/refusing to render/);
    expect(() => compilePredicate(resolved({}, { excludeReasonCodes: [2 ** 60] }), 'drop')).toThrow(/refusing to render/);
    expect(() => compilePredicate({ ...resolved({}), ports: [{ from: 1, to: Infinity }] }, 'drop')).toThrow(/refusing to render/);
  });
});

describe('assertSafePredicate', () => {
  it('accepts what compilePredicate produces', () => {
    expect(() => assertSafePredicate('1')).not.toThrow();
    expect(() => assertSafePredicate('(($sport == 53 || $dport == 53))')).not.toThrow();
  });
  it.each([
    'system("id")', '1; exit', '"', "'", '`id`', '1 + 1', '$x = 1', '{ }', '1\n2', 'A', '1, 2', '@map', 'comm == "x"', '1/0', '\u202e1', 'str($x)',
    'exit()', '$sport == 1 || exit()', '$reason = 0', 'kstack', 'nsecs > 0', '$unknown == 1', '$sport==1', 'arg0 == 1', 'pid == 1',
  ])('rejects %j', (p) => {
    expect(() => assertSafePredicate(p)).toThrow(UsageError);
  });
  it('rejects an absurdly long predicate', () => {
    expect(() => assertSafePredicate('1 && '.repeat(20_000) + '1')).toThrow(UsageError);
  });
});
