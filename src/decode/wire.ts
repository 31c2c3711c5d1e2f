// Decode one line of bpftrace output into a typed wire message.
// bpftrace 0.17 and 0.23 differ in where they print "Attaching N probes...",
// in lost-event wording and in JSON-mode envelopes; every shape seen is handled
// here and anything else is counted as undecodable, never fatal. What the
// probes print (event fields and ranges, which maps pack segments) comes from
// the probe catalog's wire formats (./wire-schema.ts); the control lines the
// generated program adds (ready, flush, flush-end, stack-end) are fixed here.
import { SEGMENT_SHIFT, TS_MAX, type CompiledFormat, type Range, type WireSchema } from './wire-schema.js';

/** An event as a probe printed it (or as a map key decodes to): `t` says which wire format. */
export interface EventWire {
  t: string;
  ts: number;
  [field: string]: number | string | undefined;
}

/** A lossy TCP socket reached TCP_CLOSE (a connection-end format, probes/flow-ends): s* is the local side. */
export interface FlowEndWire {
  t: string;
  ts: number; oldstate: number; retrans: number; ooo: number;
  netns: number; l3: number; s4: number; d4: number; s6: string; d6: string; sport: number; dport: number;
}

/** One entry of an aggregation map printed by bpftrace (`@d0[k1, k2, ...]: count N, average A, total T`). */
export interface MapEntry {
  /** Map name without '@' and generation digit: d, od, r, or, i, oi, … */
  map: string;
  /** Keys as unsigned 64-bit values (bpftrace prints them signed). */
  keys: bigint[];
  count: number;
  /** Sum of the values (bytes). */
  total: number;
  /** Sum of the segment counts packed above bit 40 of the maps whose value has segments (r, i); 0 elsewhere. */
  segments: number;
}

export type WireMessage =
  | { kind: 'event'; event: EventWire }
  | { kind: 'flow-end'; end: FlowEndWire }
  | { kind: 'flush'; from: number; to: number; ts: number; final: boolean }
  | { kind: 'flush-end' }
  | { kind: 'stack-frame'; address: string }
  | { kind: 'stack-end' }
  | { kind: 'map-entry'; entry: MapEntry }
  /** A keyless map (`@name: N`); `gen` is the generation digit of per-window maps (`@td0`). */
  | { kind: 'scalar'; name: string; value: number; gen?: 0 | 1 }
  | { kind: 'ready' }
  | { kind: 'attaching'; probes: number }
  | { kind: 'lost'; count: number }
  /** bpftrace's own runtime diagnostic (a helper call that failed, e.g. an insert into a full map), one per failure. */
  | { kind: 'helper-error'; helper: string; retcode: number }
  /** A line of such a diagnostic block: its header (the next line echoes our source) or its carets. */
  | { kind: 'diagnostic'; header: boolean }
  | { kind: 'ignored' }
  | { kind: 'undecodable'; line: string; why: string };

/** Window numbers: ns / interval (>= 1 s) stay below 2^34; 2^40 leaves room for sub-second intervals. */
export const MAX_WINDOW = 2 ** 40;

const LOST_TEXT_RE = /^Lost (\d{1,15}) events?\b/;
// bpftrace's text rendering of a stats() map entry and of a scalar map.
// Digit runs are bounded: a longer one is no 64-bit value (and Number() of it could be Infinity).
const MAP_ENTRY_RE = /^@([a-z]+)[01]\[(-?\d{1,20}(?:, -?\d{1,20})*)\]: count (\d{1,20}), average -?\d{1,20}, total (-?\d{1,20})$/;
const SCALAR_RE = /^@([a-z_]+)([01]?): (-?\d{1,20})$/;
const SEEN_RE = /^@s[a-z][01]\[-?\d{1,20}(?:, -?\d{1,20})*\]: \d{1,20}$/;
const ATTACH_RE = /^Attaching (\d{1,9}) probes?\.\.\.$/;
// bpftrace 0.2x reports a failed helper call on stdout as a block: a
// "<file>:<line>:<cols>: WARNING: …" header, "Additional Info - helper: …",
// the source line echoed with its indentation, then a line of carets (~).
// The echoed source line is told apart by the session (it follows a header).
const HELPER_INFO_RE = /^Additional Info - helper: (\w+), retcode: (-?\d{1,20})$/;
const DIAGNOSTIC_HEADER_RE = /^\S+:\d+:\d+(?:-\d+)?: WARNING: /;
const CARETS_RE = /^ *~+$/;

/** A line decoder for the wire formats of one catalog (see wireDecoder). */
export type LineDecoder = (line: string) => WireMessage;

/** The decoder of a catalog's wire (src/source/catalog.ts: catalog.wire). */
export function wireDecoder(schema: WireSchema): LineDecoder {
  const decodeLine = (raw: string): WireMessage => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0) return { kind: 'ignored' };
    if (line.charCodeAt(0) !== 123 /* { */) return decodeText(schema, line);
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      return { kind: 'undecodable', line, why: 'invalid JSON' };
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      return { kind: 'undecodable', line, why: 'not an object' };
    }
    return decodeObject(schema, obj as Record<string, unknown>, line, decodeLine);
  };
  return decodeLine;
}

// A kstack(perf) frame: "\tffffffff81e42e50 sk_skb_reason_drop+144". Only the
// address is kept; names come from our own symbolizer.
const STACK_FRAME_RE = /^\t([0-9a-f]{1,16})\b/;

function decodeText(schema: WireSchema, line: string): WireMessage {
  if (line.charCodeAt(0) === 9 /* \t */) {
    const f = STACK_FRAME_RE.exec(line);
    return f ? { kind: 'stack-frame', address: '0x' + f[1] } : { kind: 'undecodable', line, why: 'not a stack frame' };
  }
  if (line.charCodeAt(0) === 64 /* @ */) return decodeMapLine(schema, line);
  const lost = LOST_TEXT_RE.exec(line);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  const att = ATTACH_RE.exec(line);
  if (att) return { kind: 'attaching', probes: Number(att[1]) };
  const helper = HELPER_INFO_RE.exec(line);
  if (helper) return { kind: 'helper-error', helper: helper[1], retcode: Number(helper[2]) };
  if (DIAGNOSTIC_HEADER_RE.test(line)) return { kind: 'diagnostic', header: true };
  if (CARETS_RE.test(line)) return { kind: 'diagnostic', header: false };
  return { kind: 'undecodable', line, why: 'not JSON' };
}

function decodeObject(schema: WireSchema, o: Record<string, unknown>, line: string, decodeLine: LineDecoder): WireMessage {
  // `-f json` envelopes (bpftrace's own JSON output mode), both generations.
  if (typeof o.type === 'string' && !('t' in o)) return decodeEnvelope(o, line, decodeLine);
  switch (o.t) {
    case 'flush': {
      for (const [k, max] of [['from', MAX_WINDOW], ['to', MAX_WINDOW], ['ts', TS_MAX]] as const) {
        if (!isCount(o[k])) return { kind: 'undecodable', line, why: `flush field ${k} is not a non-negative integer` };
        if ((o[k] as number) > max) return { kind: 'undecodable', line, why: `flush field ${k} is out of range` };
      }
      const final = o.final === 1;
      // The probe moves from window `from` to a later `to`; the final flush prints to 0.
      if (!final && (o.to as number) < (o.from as number)) return { kind: 'undecodable', line, why: 'flush goes back in time (to < from)' };
      return { kind: 'flush', from: o.from as number, to: o.to as number, ts: o.ts as number, final };
    }
    case 'flush-end':
      return { kind: 'flush-end' };
    case 'stack-end':
      return { kind: 'stack-end' };
    case 'ready':
      return { kind: 'ready' };
  }
  const f = typeof o.t === 'string' ? schema.format(o.t) : undefined;
  if (!f) return { kind: 'undecodable', line, why: `unknown record type ${JSON.stringify(o.t)}` };
  const bad = checked(o, f);
  if (bad) return { kind: 'undecodable', line, why: bad };
  return f.format.role === 'connection-end' ? { kind: 'flow-end', end: o as unknown as FlowEndWire } : { kind: 'event', event: o as unknown as EventWire };
}

function decodeEnvelope(o: Record<string, unknown>, line: string, decodeLine: LineDecoder): WireMessage {
  const data = o.data as Record<string, unknown> | string | undefined;
  switch (o.type) {
    case 'lost_events': {
      const n = typeof data === 'object' && data ? (data as Record<string, unknown>).events : undefined;
      return isCount(n) && Number.isSafeInteger(n) ? { kind: 'lost', count: n } : { kind: 'undecodable', line, why: 'lost_events without a count' };
    }
    case 'attached_probes': {
      const n = typeof data === 'object' && data ? (data as Record<string, unknown>).probes : undefined;
      return isCount(n) ? { kind: 'attaching', probes: n } : { kind: 'ignored' };
    }
    case 'printf':
      // A printf in -f json mode carries our own line as a string.
      return typeof data === 'string' ? decodeLine(data.replace(/\n$/, '')) : { kind: 'undecodable', line, why: 'printf without data' };
    default:
      return { kind: 'ignored' };
  }
}

const I64_MIN = -(1n << 63n);
const SHIFT = BigInt(SEGMENT_SHIFT);
const BYTES_MASK = (1n << SHIFT) - 1n;
const U64_LIMIT = 1n << 64n;

function decodeMapLine(schema: WireSchema, line: string): WireMessage {
  const m = MAP_ENTRY_RE.exec(line);
  if (m) {
    // bpftrace prints u64 keys as int64; anything outside [-2^63, 2^64) is not
    // one of our keys, and asUintN would silently wrap it onto another flow.
    // One BigInt per non-negative key (the usual case) and no per-key
    // constants: a window of a million flows is a million of these lines.
    const printed = m[2].split(', ');
    const keys = new Array<bigint>(printed.length);
    for (let i = 0; i < printed.length; i++) {
      const text = printed[i];
      let k = BigInt(text);
      if (text.charCodeAt(0) === 45 /* - */) {
        if (k < I64_MIN) return { kind: 'undecodable', line, why: 'map key outside 64 bits' };
        k = BigInt.asUintN(64, k);
      } else if (text.length > 19 && k >= U64_LIMIT) return { kind: 'undecodable', line, why: 'map key outside 64 bits' };
      keys[i] = k;
    }
    const count = Number(m[3]);
    const t = BigInt.asUintN(64, BigInt(m[4]));
    // Maps whose value has segments sum `bytes | segments << 40` (src/source/program.ts).
    const packed = schema.map(m[1])?.packed === true;
    const total = Number(packed ? t & BYTES_MASK : t);
    const segments = packed ? Number(t >> SHIFT) : 0;
    return { kind: 'map-entry', entry: { map: m[1], keys, count, total, segments } };
  }
  // A key of a seen map (@sd0 …), printed at exit when an event re-added it after END's clear.
  if (SEEN_RE.test(line) && schema.map(line.slice(2, 3))) return { kind: 'ignored' };
  const sc = SCALAR_RE.exec(line);
  if (sc) return sc[2] ? { kind: 'scalar', name: sc[1], value: Number(sc[3]), gen: sc[2] === '1' ? 1 : 0 } : { kind: 'scalar', name: sc[1], value: Number(sc[3]) };
  return { kind: 'undecodable', line, why: 'unrecognised map line' };
}

/** A non-negative integer JSON number (not a numeric string, bool or null). */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function inRange(v: number, r: Range): boolean {
  return typeof r === 'number' ? v <= r : r.includes(v);
}

/** Why an event's fields are not what its format says, or null when they are. */
function checked(o: Record<string, unknown>, f: CompiledFormat): string | null {
  for (const [k, range] of f.numeric) {
    const v = o[k];
    if (!isCount(v)) return `field ${k} is not a non-negative integer`;
    if (!inRange(v, range)) return `field ${k} is out of range (${v})`;
  }
  // Fields newer probes print and older output lacks: checked when present.
  for (const [k, range] of f.optional) {
    if (!(k in o)) continue;
    const v = o[k];
    if (!isCount(v)) return `field ${k} is not a non-negative integer`;
    if (!inRange(v, range)) return `field ${k} is out of range (${v})`;
  }
  for (const [k, re] of f.hex) {
    const v = o[k];
    if (typeof v !== 'string' || !re.test(v)) return `field ${k} is not a hex string`;
  }
  return null;
}
