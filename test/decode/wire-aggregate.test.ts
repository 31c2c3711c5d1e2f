// Decoding what the aggregation and incoming-loss programs print: flush
// markers, printed stats() map entries (keys printed signed, read back as
// unsigned 64-bit), scalar maps, incoming events, and garbage around them.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeLine, type IncomingWire, type WireMessage } from '../../src/decode/wire.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'aggregate');
const fixture = (f: string) => readFileSync(join(FIX, f), 'utf8').split('\n');
const U64 = 1n << 64n;

describe('decodeLine: printed aggregation map entries', () => {
  it('the example line: kernel addresses printed negative come back as unsigned 64-bit keys', () => {
    const m = decodeLine('@d0[4026532246, 8589934594, -2113968848, -2113638580]: count 50, average 38, total 1900');
    expect(m).toEqual({
      kind: 'map-entry',
      entry: { map: 'd', keys: [4026532246n, 8589934594n, 0xffffffff81ff6530n, 0xffffffff82046f4cn], count: 50, total: 1900, segments: 0 },
    });
  });

  it.each([
    ['-1', U64 - 1n],
    ['-9223372036854775808', 1n << 63n],
    ['9223372036854775807', (1n << 63n) - 1n],
    ['0', 0n],
    ['4294967296', 1n << 32n],
  ])('key %s → %s', (printed, want) => {
    const m = decodeLine(`@or1[${printed}]: count 1, average 0, total 0`);
    expect(m.kind).toBe('map-entry');
    if (m.kind === 'map-entry') expect(m.entry.keys).toEqual([want]);
  });

  it.each([
    ['@d0', 'd'], ['@d1', 'd'], ['@od0', 'od'], ['@od1', 'od'], ['@r0', 'r'], ['@or1', 'or'], ['@i1', 'i'], ['@oi0', 'oi'],
  ])('%s is map %s (the generation digit is dropped)', (name, map) => {
    const m = decodeLine(`${name}[1, 2, 3]: count 7, average 3, total 21`);
    expect(m).toEqual({ kind: 'map-entry', entry: { map, keys: [1n, 2n, 3n], count: 7, total: 21, segments: 0 } });
  });

  it('TCP maps (r, i and their overflow) sum bytes | segments << 40: split into bytes and segments; drop maps keep the whole total', () => {
    const packed = (bytes: bigint, segs: bigint) => String(BigInt.asIntN(64, bytes | (segs << 40n)));
    for (const map of ['r0', 'or1', 'i1', 'oi0']) {
      expect(decodeLine(`@${map}[1]: count 4, average 9, total ${packed(5792n, 6n)}`)).toMatchObject({ kind: 'map-entry', entry: { count: 4, total: 5792, segments: 6 } });
    }
    // Segments up to 2^23 (printed as a negative int64 above that) still come back exact.
    expect(decodeLine(`@r1[1]: count 1, average 0, total ${packed((1n << 40n) - 1n, (1n << 24n) - 1n)}`)).toMatchObject({ entry: { total: 2 ** 40 - 1, segments: 2 ** 24 - 1 } });
    expect(decodeLine(`@d0[1]: count 1, average 0, total ${String(1n << 41n)}`)).toMatchObject({ entry: { total: 2 ** 41, segments: 0 } });
  });

  it('per-window totals: @t<kind><gen> is a scalar with its generation', () => {
    expect(decodeLine('@td0: 512972')).toEqual({ kind: 'scalar', name: 'td', value: 512972, gen: 0 });
    expect(decodeLine('@ti1: 0')).toEqual({ kind: 'scalar', name: 'ti', value: 0, gen: 1 });
    expect(decodeLine('@stalls: 2')).toEqual({ kind: 'scalar', name: 'stalls', value: 2 });
  });

  it('a 14-key drop entry exactly as bpftrace 0.17 and 0.23 printed it', () => {
    const entry = '[4026531833, 4294967297, -2113584288, -2113244564, 1144591604514819, 2621515535, 16777343, 0, 0, 0, 16777343, 0, 0, 0]: count 5, average 18, total 90';
    // Either generation (0.23 happened to print it from @d0, 0.17 from @d1).
    for (const f of ['drops-0.17.stdout', 'drops-0.23.stdout']) expect(fixture(f).some((l) => l === `@d0${entry}` || l === `@d1${entry}`), f).toBe(true);
    const line = `@d1${entry}`;
    const m = decodeLine(line);
    expect(m.kind).toBe('map-entry');
    if (m.kind !== 'map-entry') return;
    expect(m.entry.keys).toHaveLength(14);
    expect(m.entry.keys[0]).toBe(4026531833n);
    expect(m.entry.keys[1]).toBe((1n << 32n) | 1n);
    expect(m.entry.keys[2]).toBe(0xffffffff82054360n);
    expect(m.entry.keys[4]).toBe((4n << 48n) | (17n << 40n) | 3n);
    expect(m.entry.keys[5]).toBe((40001n << 16n) | 9999n);
    expect(m.entry.count).toBe(5);
    expect(m.entry.total).toBe(90);
  });

  it('a negative average (stats() of a signed value) still decodes', () => {
    expect(decodeLine('@r0[1]: count 2, average -3, total 4').kind).toBe('map-entry');
  });

  it('strips a trailing CR', () => {
    expect(decodeLine('@oi0[72057594037927940]: count 1, average 5, total 5\r')).toMatchObject({ kind: 'map-entry', entry: { map: 'oi', count: 1 } });
  });
});

describe('decodeLine: scalar maps', () => {
  it('@suppressed: N', () => {
    expect(decodeLine('@suppressed: 12')).toEqual({ kind: 'scalar', name: 'suppressed', value: 12 });
    expect(decodeLine('@suppressed: 0')).toEqual({ kind: 'scalar', name: 'suppressed', value: 0 });
  });

  it('names with underscores', () => {
    expect(decodeLine('@rl_n: 3')).toEqual({ kind: 'scalar', name: 'rl_n', value: 3 });
  });

  it('the stats fixture: both versions print the count() scalar, also after clear() at exit', () => {
    for (const f of ['stats-0.17.stdout', 'stats-0.23.stdout']) {
      const msgs = fixture(f).map(decodeLine);
      expect(msgs.filter((m) => m.kind === 'scalar')).toEqual([
        { kind: 'scalar', name: 'suppressed', value: 2 },
        { kind: 'scalar', name: 'suppressed', value: 0 },
      ]);
      expect(msgs.filter((m) => m.kind === 'map-entry').map((m) => m.kind === 'map-entry' && m.entry)).toEqual([
        { map: 'd', keys: [1n, 2n, 3n], count: 1, total: 5, segments: 0 },
        { map: 'd', keys: [4026532246n, 8589934594n, 0xffffffff81ff6530n], count: 2, total: 1900, segments: 0 },
        { map: 'od', keys: [3n, 0n, 0n], count: 1, total: 7, segments: 0 },
      ]);
      expect(msgs.filter((m) => m.kind === 'undecodable')).toEqual([]);
    }
  });
});

describe('decodeLine: flush markers', () => {
  it('a window closes: from, to, ts; not final', () => {
    expect(decodeLine('{"t":"flush","from":10037,"to":10038,"ts":10037030631180}')).toEqual({ kind: 'flush', from: 10037, to: 10038, ts: 10037030631180, final: false });
  });

  it('the final flush at exit', () => {
    expect(decodeLine('{"t":"flush","from":10039,"to":0,"ts":10038292558965,"final":1}')).toEqual({ kind: 'flush', from: 10039, to: 0, ts: 10038292558965, final: true });
    // Only 1 means final.
    expect(decodeLine('{"t":"flush","from":1,"to":2,"ts":3,"final":0}')).toMatchObject({ final: false });
    expect(decodeLine('{"t":"flush","from":1,"to":2,"ts":3,"final":true}')).toMatchObject({ final: false });
  });

  it('the end marker', () => {
    expect(decodeLine('{"t":"flush-end"}')).toEqual({ kind: 'flush-end' });
  });

  it.each([
    '{"t":"flush","to":2,"ts":3}',
    '{"t":"flush","from":-1,"to":2,"ts":3}',
    '{"t":"flush","from":"1","to":2,"ts":3}',
    '{"t":"flush","from":1.5,"to":2,"ts":3}',
    '{"t":"flush","from":1,"to":2,"ts":null}',
  ])('a flush without usable numbers is undecodable: %s', (line) => {
    const m = decodeLine(line);
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toMatch(/flush field (from|to|ts)/);
  });

  it('a flush marker inside a -f json printf envelope', () => {
    expect(decodeLine(JSON.stringify({ type: 'printf', data: '{"t":"flush","from":4,"to":5,"ts":6}\n' }))).toEqual({ kind: 'flush', from: 4, to: 5, ts: 6, final: false });
  });
});

describe('decodeLine: the real aggregation captures decode completely', () => {
  it.each(['drops-0.17.stdout', 'drops-0.23.stdout'])('%s', (f) => {
    const msgs = fixture(f).map(decodeLine);
    const kinds = (k: WireMessage['kind']) => msgs.filter((m) => m.kind === k);
    expect(kinds('undecodable')).toEqual([]);
    expect(kinds('ready')).toHaveLength(1);
    expect(kinds('attaching')).toEqual([{ kind: 'attaching', probes: 4 }]);
    const flushes = kinds('flush') as Array<Extract<WireMessage, { kind: 'flush' }>>;
    // Window 0 and at least one full window; the last, partial window is bpftrace's own print of the maps at exit.
    expect(flushes.length).toBeGreaterThanOrEqual(2);
    expect(kinds('flush-end')).toHaveLength(flushes.length);
    expect(flushes[0].from).toBe(0);
    expect(flushes.every((f) => !f.final)).toBe(true);
    const lastEnd = msgs.map((m) => m.kind).lastIndexOf('flush-end');
    expect(msgs.slice(lastEnd).some((m) => m.kind === 'map-entry')).toBe(true);
    // Totals of every window and of the exit print: equal to the entries' counts.
    const totals = kinds('scalar').filter((m) => m.kind === 'scalar' && m.name === 'td') as Array<{ value: number }>;
    expect(totals.reduce((n, t) => n + t.value, 0)).toBe(15);
    // Windows follow each other: each flush starts where the previous one said it moved to.
    for (let i = 1; i < flushes.length; i++) expect(flushes[i].from).toBe(flushes[i - 1].to);
    const entries = (kinds('map-entry') as Array<Extract<WireMessage, { kind: 'map-entry' }>>).map((m) => m.entry);
    // 15 drops in all (see the fixture README).
    expect(entries.reduce((n, e) => n + e.count, 0)).toBe(15);
    expect(entries.filter((e) => e.map === 'od').reduce((n, e) => n + e.count, 0)).toBe(3);
  });
});

describe('decodeLine: incoming-loss events', () => {
  const EV: IncomingWire = {
    t: 'incoming', action: 1, ts: 123456789, seq: 4000000000, rcv_nxt: 3999990000, netns: 4026532301, l3: 4,
    s4: 0x0101a8c0, d4: 0x0201a8c0, s6: '0'.repeat(32), d6: '0'.repeat(32), sport: 5201, dport: 46000, len: 10000, cpu: 1,
  };
  const line = (over: Record<string, unknown> = {}) => JSON.stringify({ ...EV, ...over });

  it('decodes every field', () => {
    expect(decodeLine(line())).toEqual({ kind: 'event', event: EV });
  });

  it.each([1, 2, 3])('action %d', (action) => {
    expect(decodeLine(line({ action }))).toMatchObject({ kind: 'event', event: { t: 'incoming', action } });
  });

  it('IPv6 words', () => {
    const s6 = 'b80d0120000000000000000001000000';
    expect(decodeLine(line({ l3: 6, s4: 0, d4: 0, s6, d6: s6 }))).toMatchObject({ kind: 'event', event: { s6, d6: s6 } });
  });

  it.each(['action', 'seq', 'rcv_nxt', 'netns', 'sport', 'len', 'cpu'])('without %s it is undecodable, naming the field', (k) => {
    const o: Record<string, unknown> = { ...EV };
    delete o[k];
    const m = decodeLine(JSON.stringify(o));
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toContain(k);
  });

  it('bad address words are undecodable', () => {
    expect(decodeLine(line({ s6: 'zz' })).kind).toBe('undecodable');
    expect(decodeLine(line({ d6: '0'.repeat(31) })).kind).toBe('undecodable');
    expect(decodeLine(line({ seq: -1 })).kind).toBe('undecodable');
  });
});

describe('decodeLine: garbage near the aggregation shapes is undecodable, never thrown', () => {
  it.each([
    '@',
    '@d0',
    '@d0[',
    '@d0[]: count 1, average 1, total 1',
    '@d0[1, 2: count 1, average 1, total 1',
    '@d0[1,2]: count 1, average 1, total 1',
    '@d0[1, 2]: count -1, average 1, total 1',
    '@d0[1, 2]: count 1, average 1',
    '@d0[1, 2]: count 1, average 1, total 1 trailing',
    '@d0[0x10, 2]: count 1, average 1, total 1',
    '@d0[1e3]: count 1, average 1, total 1',
    '@d2[1, 2]: count 1, average 1, total 1',
    '@D0[1, 2]: count 1, average 1, total 1',
    '@d0[1, 2]: 5',
    '@suppressed: ',
    '@suppressed: x',
    '@suppressed: 1.5',
    '@suppressed 12',
    '@x[1]: 5',
    '@d0["eth0"]: count 1, average 1, total 1',
    '@d0[1, 2]: count 1, average 1, total 1\u001b[2J',
  ])('%j', (line) => {
    let m: WireMessage | undefined;
    expect(() => (m = decodeLine(line))).not.toThrow();
    expect(m!.kind).toBe('undecodable');
    if (m!.kind === 'undecodable') expect(m!.line).toBe(line);
  });

  it('a key outside the 64-bit range is refused rather than wrapped onto another flow', () => {
    for (const k of ['18446744073709551616', '-9223372036854775809', '99999999999999999999999999']) {
      const m = decodeLine(`@d0[${k}, 1]: count 1, average 1, total 1`);
      expect(m.kind, k).toBe('undecodable');
    }
    // The largest unsigned value is fine if a bpftrace ever prints keys unsigned.
    expect(decodeLine('@or0[18446744073709551615]: count 1, average 1, total 1')).toMatchObject({ kind: 'map-entry', entry: { keys: [U64 - 1n] } });
  });

  it('never throws on mutated map lines', () => {
    const base = '@d1[4026531833, 4294967297, -2113968848, -2113638580, 1144591604514819, 2621515535, 16777343, 0, 0, 0, 16777343, 0, 0, 0]: count 5, average 18, total 90';
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const alphabet = '@[]:,- 0123456789abcdefxyz{}"\\\u0000\u00ff\u202e';
    for (let i = 0; i < 3000; i++) {
      const chars = [...base];
      for (let j = 0, n = 1 + rnd(4); j < n; j++) {
        const at = rnd(chars.length);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]);
        else chars[at] = alphabet[rnd(alphabet.length)];
      }
      const line = chars.join('');
      const m = decodeLine(line);
      expect(['map-entry', 'scalar', 'undecodable', 'ignored']).toContain(m.kind);
      if (m.kind === 'map-entry') for (const k of m.entry.keys) expect(k >= 0n && k < U64).toBe(true);
    }
  });
});
