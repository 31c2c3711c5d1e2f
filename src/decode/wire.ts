// Decode one line of bpftrace output into a typed wire message.
// bpftrace 0.17 and 0.23 differ in where they print "Attaching N probes...",
// in lost-event wording and in JSON-mode envelopes; every shape seen is handled
// here and anything else is counted as undecodable, never fatal.

export interface DropWire {
  t: 'drop';
  ts: number; reason: number; loc: string; eth: number; len: number;
  ifindex: number; iif: number; netns: number; dst_in: string;
  l3: number; l4: number; s4: number; d4: number; s6: string; d6: string;
  sport: number; dport: number; tflags: number; icmp_type: number; icmp_code: number; cpu: number;
  /** 1: a socket had taken it before it was dropped without a route (local delivery); absent from older probe output. */
  local?: number;
}

export interface TcpSockWire {
  t: 'retrans' | 'synack' | 'tlp';
  ts: number; state: number; ca_state: number; pending: number; retransmits: number;
  netns: number; l3: number; s4: number; d4: number; s6: string; d6: string;
  sport: number; dport: number; len: number; cpu: number;
  /** GSO/TSO segments of the retransmitted skb (tcp_skb_pcount); absent from older probe output. */
  segs?: number;
}

/** Receiver-side loss seen on tcp:tcp_probe (probes/incoming-loss): s* is the peer. */
export interface IncomingWire {
  t: 'incoming';
  /** 1 out-of-order (new hole), 2 hole-filling retransmit, 3 duplicate. */
  action: number;
  ts: number; seq: number; rcv_nxt: number; netns: number; l3: number; s4: number; d4: number; s6: string; d6: string;
  sport: number; dport: number; len: number; cpu: number;
  /** Segments of the arriving skb (GRO: several). */
  segs?: number;
}

export type EventWire = DropWire | TcpSockWire | IncomingWire;

/** A lossy TCP socket reached TCP_CLOSE (probes/flow-ends): s* is the local side. */
export interface FlowEndWire {
  t: 'end';
  ts: number; oldstate: number; retrans: number; ooo: number;
  netns: number; l3: number; s4: number; d4: number; s6: string; d6: string; sport: number; dport: number;
}

/** One entry of an aggregation map printed by bpftrace (`@d0[k1, k2, ...]: count N, average A, total T`). */
export interface MapEntry {
  /** Map name without '@' and generation digit: d, od, r, or, i, oi. */
  map: string;
  /** Keys as unsigned 64-bit values (bpftrace prints them signed). */
  keys: bigint[];
  count: number;
  /** Sum of the values (bytes). */
  total: number;
  /** Sum of the segment counts packed above bit 40 of the TCP maps' values (r, i); 0 elsewhere. */
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
  | { kind: 'ignored' }
  | { kind: 'undecodable'; line: string; why: string };

const DROP_NUMERIC = ['ts', 'reason', 'eth', 'len', 'ifindex', 'iif', 'netns', 'l3', 'l4', 's4', 'd4', 'sport', 'dport', 'tflags', 'icmp_type', 'icmp_code', 'cpu'] as const;
const DROP_HEX = ['loc', 'dst_in', 's6', 'd6'] as const;
const SOCK_NUMERIC = ['ts', 'state', 'ca_state', 'pending', 'retransmits', 'netns', 'l3', 's4', 'd4', 'sport', 'dport', 'len', 'cpu'] as const;
const SOCK_HEX = ['s6', 'd6'] as const;
const INCOMING_NUMERIC = ['ts', 'action', 'seq', 'rcv_nxt', 'netns', 'l3', 's4', 'd4', 'sport', 'dport', 'len', 'cpu'] as const;
const END_NUMERIC = ['ts', 'oldstate', 'retrans', 'ooo', 'netns', 'l3', 's4', 'd4', 'sport', 'dport'] as const;
const FLUSH_NUMERIC = ['from', 'to', 'ts'] as const;
const OPTIONAL_SEGS = ['segs'] as const;
const OPTIONAL_LOCAL = ['local'] as const;

// Kernel addresses are printed "0x%llx"; IPv6 addresses as four "%08x" words
// (exactly 32 digits). Anything else would be misread downstream: BigInt()
// parses an unprefixed "10" as decimal, and a short word string becomes a
// silently wrong address.
const ADDR_RE = /^0x[0-9a-f]{1,16}$/;
const WORDS_RE = /^(0x)?[0-9a-f]{32}$/;
const HEX_RE: Record<string, RegExp> = { loc: ADDR_RE, dst_in: ADDR_RE, s6: WORDS_RE, d6: WORDS_RE };
const LOST_TEXT_RE = /^Lost (\d+) events?\b/;
// bpftrace's text rendering of a stats() map entry and of a scalar map.
const MAP_ENTRY_RE = /^@([a-z]+)[01]\[(-?\d+(?:, -?\d+)*)\]: count (\d+), average -?\d+, total (-?\d+)$/;
const SCALAR_RE = /^@([a-z_]+)([01]?): (-?\d+)$/;
const SEEN_RE = /^@s[dri][01]\[-?\d+(?:, -?\d+)*\]: \d+$/;
const ATTACH_RE = /^Attaching (\d+) probes?\.\.\.$/;

export function decodeLine(raw: string): WireMessage {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.length === 0) return { kind: 'ignored' };
  if (line.charCodeAt(0) !== 123 /* { */) return decodeText(line);
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return { kind: 'undecodable', line, why: 'invalid JSON' };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { kind: 'undecodable', line, why: 'not an object' };
  }
  return decodeObject(obj as Record<string, unknown>, line);
}

// A kstack(perf) frame: "\tffffffff81e42e50 sk_skb_reason_drop+144". Only the
// address is kept; names come from our own symbolizer.
const STACK_FRAME_RE = /^\t([0-9a-f]{1,16})\b/;

function decodeText(line: string): WireMessage {
  if (line.charCodeAt(0) === 9 /* \t */) {
    const f = STACK_FRAME_RE.exec(line);
    return f ? { kind: 'stack-frame', address: '0x' + f[1] } : { kind: 'undecodable', line, why: 'not a stack frame' };
  }
  if (line.charCodeAt(0) === 64 /* @ */) return decodeMapLine(line);
  const lost = LOST_TEXT_RE.exec(line);
  if (lost) return { kind: 'lost', count: Number(lost[1]) };
  const att = ATTACH_RE.exec(line);
  if (att) return { kind: 'attaching', probes: Number(att[1]) };
  return { kind: 'undecodable', line, why: 'not JSON' };
}

function decodeObject(o: Record<string, unknown>, line: string): WireMessage {
  // `-f json` envelopes (bpftrace's own JSON output mode), both generations.
  if (typeof o.type === 'string' && !('t' in o)) return decodeEnvelope(o, line);
  switch (o.t) {
    case 'drop':
      return checked(o, DROP_NUMERIC, DROP_HEX, line, OPTIONAL_LOCAL);
    case 'retrans':
    case 'synack':
    case 'tlp':
      return checked(o, SOCK_NUMERIC, SOCK_HEX, line, OPTIONAL_SEGS);
    case 'incoming':
      return checked(o, INCOMING_NUMERIC, SOCK_HEX, line, OPTIONAL_SEGS);
    case 'end': {
      const m = checked(o, END_NUMERIC, SOCK_HEX, line);
      return m.kind === 'event' ? { kind: 'flow-end', end: m.event as unknown as FlowEndWire } : m;
    }
    case 'flush':
      for (const k of FLUSH_NUMERIC) if (!isCount(o[k])) return { kind: 'undecodable', line, why: `flush field ${k} is not a non-negative integer` };
      return { kind: 'flush', from: o.from as number, to: o.to as number, ts: o.ts as number, final: o.final === 1 };
    case 'flush-end':
      return { kind: 'flush-end' };
    case 'stack-end':
      return { kind: 'stack-end' };
    case 'ready':
      return { kind: 'ready' };
    default:
      return { kind: 'undecodable', line, why: `unknown record type ${JSON.stringify(o.t)}` };
  }
}

function decodeEnvelope(o: Record<string, unknown>, line: string): WireMessage {
  const data = o.data as Record<string, unknown> | string | undefined;
  switch (o.type) {
    case 'lost_events': {
      const n = typeof data === 'object' && data ? (data as Record<string, unknown>).events : undefined;
      return isCount(n) ? { kind: 'lost', count: n } : { kind: 'undecodable', line, why: 'lost_events without a count' };
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
const PACKED_MAPS = new Set(['r', 'or', 'i', 'oi']);
const BYTES_MASK = (1n << 40n) - 1n;
const U64_LIMIT = 1n << 64n;

function decodeMapLine(line: string): WireMessage {
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
    // The TCP probes sum `bytes | segments << 40` (probes/shared/*.bt.inc).
    const packed = PACKED_MAPS.has(m[1]);
    const total = Number(packed ? t & BYTES_MASK : t);
    const segments = packed ? Number(t >> 40n) : 0;
    return { kind: 'map-entry', entry: { map: m[1], keys, count, total, segments } };
  }
  // A key of a seen map (@sd0 …), printed at exit when an event re-added it after END's clear.
  if (SEEN_RE.test(line)) return { kind: 'ignored' };
  const sc = SCALAR_RE.exec(line);
  if (sc) return sc[2] ? { kind: 'scalar', name: sc[1], value: Number(sc[3]), gen: sc[2] === '1' ? 1 : 0 } : { kind: 'scalar', name: sc[1], value: Number(sc[3]) };
  return { kind: 'undecodable', line, why: 'unrecognised map line' };
}

/** A non-negative integer JSON number (not a numeric string, bool or null). */
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function checked(
  o: Record<string, unknown>,
  numeric: readonly string[],
  hex: readonly string[],
  line: string,
  optional: readonly string[] = [],
): WireMessage {
  for (const k of numeric) {
    const v = o[k];
    if (!isCount(v)) return { kind: 'undecodable', line, why: `field ${k} is not a non-negative integer` };
  }
  for (const k of optional) {
    if (k in o && !isCount(o[k])) return { kind: 'undecodable', line, why: `field ${k} is not a non-negative integer` };
  }
  for (const k of hex) {
    const v = o[k];
    if (typeof v !== 'string' || !HEX_RE[k].test(v)) return { kind: 'undecodable', line, why: `field ${k} is not a hex string` };
  }
  return { kind: 'event', event: o as unknown as EventWire };
}
