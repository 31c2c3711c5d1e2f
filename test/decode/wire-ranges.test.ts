// Every numeric field of every wire line is range-checked where it is decoded
// (issue 10, row 1): the largest value its kernel source can produce decodes,
// one past it (or a value outside its set) is undecodable, naming the field.
import { describe, expect, it } from 'vitest';
import { MAX_WINDOW } from '../../src/decode/wire.js';
import { decodeLine } from '../helpers/catalog.js';

const U8 = 255;
const U16 = 65535;
const U32 = 4294967295;
const U64_MAX = '18446744073709551615';
const Z32 = '0'.repeat(32);

const FLOW = { netns: 4026531840, l3: 4, s4: 16777343, d4: 16777343, s6: Z32, d6: Z32, sport: 40000, dport: 9999 };
const LINES: Record<string, Record<string, unknown>> = {
  drop: { t: 'drop', ts: 1, reason: 2, loc: '0xffffffff81000000', eth: 2048, len: 40, ifindex: 1, iif: 1, dst_in: '0x0', l4: 17, tflags: 0, icmp_type: 0, icmp_code: 0, cpu: 0, ...FLOW },
  retrans: { t: 'retrans', ts: 1, state: 1, ca_state: 0, pending: 0, retransmits: 0, len: 0, cpu: 0, ...FLOW },
  synack: { t: 'synack', ts: 1, state: 12, ca_state: 0, pending: 0, retransmits: 0, len: 0, cpu: 0, ...FLOW },
  tlp: { t: 'tlp', ts: 1, state: 1, ca_state: 0, pending: 3, retransmits: 0, len: 0, cpu: 0, ...FLOW },
  incoming: { t: 'incoming', ts: 1, action: 1, seq: 0, rcv_nxt: 0, len: 0, cpu: 0, ...FLOW },
  end: { t: 'end', ts: 1, oldstate: 1, retrans: 0, ooo: 0, ...FLOW },
};

/** Field → [largest valid value, first invalid value (JSON text)]; sets list valid values and one outsider. */
const LIMITS: Record<string, [number | string, string] | { valid: number[]; invalid: number }> = {
  ts: ['9223372036854775807', U64_MAX],
  reason: [U32, String(U32 + 1)], eth: [U16, String(U16 + 1)], len: [U32, String(U32 + 1)],
  ifindex: [U32, String(U32 + 1)], iif: [U32, String(U32 + 1)], netns: [U32, String(U32 + 1)],
  l4: [U8, String(U8 + 1)], s4: [U32, String(U32 + 1)], d4: [U32, String(U32 + 1)],
  sport: [U16, String(U16 + 1)], dport: [U16, String(U16 + 1)], tflags: [U8, String(U8 + 1)],
  icmp_type: [U8, String(U8 + 1)], icmp_code: [U8, String(U8 + 1)], cpu: [U32, String(U32 + 1)],
  state: [U8, String(U8 + 1)], ca_state: [U8, String(U8 + 1)], pending: [U8, String(U8 + 1)], retransmits: [U8, String(U8 + 1)],
  seq: [U32, String(U32 + 1)], rcv_nxt: [U32, String(U32 + 1)], oldstate: [U8, String(U8 + 1)], retrans: [U32, String(U32 + 1)], ooo: [U32, String(U32 + 1)],
  action: { valid: [1, 2, 3], invalid: 4 },
};
const L3: Record<string, { valid: number[]; invalid: number }> = {
  drop: { valid: [0, 4, 6], invalid: 5 },
  retrans: { valid: [4, 6], invalid: 0 }, synack: { valid: [4, 6], invalid: 0 }, tlp: { valid: [4, 6], invalid: 0 },
  incoming: { valid: [4, 6], invalid: 0 }, end: { valid: [4, 6], invalid: 0 },
};

/** The line with one field's value replaced by raw JSON text (so values beyond 2^53 stay exact). */
function withField(base: Record<string, unknown>, field: string, json: string): string {
  const marker = '"__VALUE__"';
  return JSON.stringify({ ...base, [field]: '__VALUE__' }).replace(marker, json);
}
const okKinds = ['event', 'flow-end'];

describe('wire ranges: every numeric field of every event line', () => {
  for (const [type, base] of Object.entries(LINES)) {
    it(`${type}: the base line decodes`, () => {
      expect(okKinds).toContain(decodeLine(JSON.stringify(base)).kind);
    });
    const numeric = Object.keys(base).filter((k) => typeof base[k] === 'number');
    it(`${type}: every numeric field is range-checked (${numeric.length} fields)`, () => {
      for (const field of numeric) {
        const lim = field === 'l3' ? L3[type] : LIMITS[field];
        expect(lim, `no limit listed for ${type}.${field}`).toBeDefined();
        if (Array.isArray(lim)) {
          expect(okKinds, `${type}.${field}=${lim[0]}`).toContain(decodeLine(withField(base, field, String(lim[0]))).kind);
          const m = decodeLine(withField(base, field, lim[1]));
          expect(m.kind, `${type}.${field}=${lim[1]}`).toBe('undecodable');
          if (m.kind === 'undecodable') expect(m.why).toContain(`field ${field} is out of range`);
        } else {
          const l = lim as { valid: number[]; invalid: number };
          for (const v of l.valid) expect(okKinds, `${type}.${field}=${v}`).toContain(decodeLine(withField(base, field, String(v))).kind);
          const m = decodeLine(withField(base, field, String(l.invalid)));
          expect(m.kind, `${type}.${field}=${l.invalid}`).toBe('undecodable');
          if (m.kind === 'undecodable') expect(m.why).toContain(`field ${field} is out of range`);
        }
        // Never negative, fractional or a string either.
        for (const bad of ['-1', '0.5', '"1"']) expect(decodeLine(withField(base, field, bad)).kind, `${type}.${field}=${bad}`).toBe('undecodable');
      }
    });
  }
});

describe('wire ranges: optional fields of newer probes are checked when present', () => {
  it.each([
    ['retrans', 'segs', String(U32), String(U32 + 1)],
    ['incoming', 'segs', String(U32), String(U32 + 1)],
    ['drop', 'local', '1', '2'],
  ])('%s.%s: %s decodes, %s does not, absent is fine', (type, field, good, bad) => {
    const base = LINES[type];
    expect(okKinds).toContain(decodeLine(JSON.stringify(base)).kind);
    expect(okKinds).toContain(decodeLine(withField(base, field, good)).kind);
    const m = decodeLine(withField(base, field, bad));
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toContain(`field ${field} is out of range`);
    expect(decodeLine(withField(base, field, '-1')).kind).toBe('undecodable');
  });
});

describe('wire ranges: flush markers', () => {
  const flush = (o: Record<string, unknown>) => decodeLine(JSON.stringify({ t: 'flush', ...o }));
  it('the line of issue 10 (to = 2^64-1) is undecodable, not a crash later', () => {
    const m = decodeLine('{"t":"flush","from":2,"to":18446744073709551615,"ts":2000000000}');
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toBe('flush field to is out of range');
  });
  it('window numbers up to MAX_WINDOW and ts below 2^63 decode', () => {
    expect(flush({ from: MAX_WINDOW - 1, to: MAX_WINDOW, ts: 9e18 })).toEqual({ kind: 'flush', from: MAX_WINDOW - 1, to: MAX_WINDOW, ts: 9e18, final: false });
    expect(flush({ from: 3, to: 0, ts: 5, final: 1 })).toEqual({ kind: 'flush', from: 3, to: 0, ts: 5, final: true });
  });
  it.each([
    [{ from: MAX_WINDOW + 1, to: MAX_WINDOW + 2, ts: 1 }, 'flush field from is out of range'],
    [{ from: 1, to: 2, ts: 2 ** 64 }, 'flush field ts is out of range'],
    [{ from: 5, to: 4, ts: 1 }, 'flush goes back in time (to < from)'],
    [{ from: -1, to: 4, ts: 1 }, 'flush field from is not a non-negative integer'],
    [{ from: 1, to: 2 }, 'flush field ts is not a non-negative integer'],
  ])('%j is undecodable: %s', (o, why) => {
    const m = flush(o);
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toBe(why);
  });
});

describe('wire ranges: text lines', () => {
  it('map entries with digit runs beyond 64 bits are undecodable (never Infinity)', () => {
    const ok = '@d0[1, 2]: count 18446744073709551615, average 1, total 18446744073709551615';
    expect(decodeLine(ok).kind).toBe('map-entry');
    for (const l of [
      '@d0[1, 2]: count 123456789012345678901, average 1, total 1',
      '@d0[1, 2]: count 1, average 1, total 1' + '0'.repeat(400),
      '@d0[1, ' + '9'.repeat(400) + ']: count 1, average 1, total 1',
      '@stalls: ' + '9'.repeat(400),
    ]) {
      const m = decodeLine(l);
      expect(m.kind, l.slice(0, 60)).toBe('undecodable');
    }
  });
  it('lost-event counts must be exact integers', () => {
    expect(decodeLine('Lost 999999999999999 events')).toEqual({ kind: 'lost', count: 999999999999999 });
    expect(decodeLine('Lost ' + '9'.repeat(400) + ' events').kind).toBe('undecodable');
    expect(decodeLine('{"type":"lost_events","data":{"events":18446744073709551615}}').kind).toBe('undecodable');
  });
});
