// Aggregation map keys (as packed by probes/*.bt, see "Aggregation key"
// comments there) back into the wire events the enricher understands, so
// flow records carry exactly the same fields as per-event records.
import type { DropWire, TcpSockWire, IncomingWire, EventWire, MapEntry } from '../decode/wire.js';

const U32 = 0xffffffffn;
const u32 = (v: bigint, shift = 0n) => Number((v >> shift) & U32);
const bits = (v: bigint, shift: bigint, width: bigint) => Number((v >> shift) & ((1n << width) - 1n));
const hex16 = (v: bigint) => '0x' + v.toString(16);
/** Four little-endian u32 words as the probes print s6/d6 ("%08x" x4). */
const words = (ks: bigint[]) => ks.map((k) => u32(k).toString(16).padStart(8, '0')).join('');

export type FlowKind = 'd' | 'r' | 'i';

export interface DecodedEntry {
  kind: FlowKind;
  /** True for the kernel's overflow maps (flows beyond --max-flows): no flow fields. */
  overflow: boolean;
  event: EventWire;
}

const SOCK_TYPES: Record<number, TcpSockWire['t']> = { 1: 'retrans', 2: 'synack', 3: 'tlp' };
const ZERO_WORDS = '0'.repeat(32);

/**
 * A drop key (or an overflow key: the same without the source, `src` null):
 * netns, ifindex<<32|iif, dst input handler, location, l3<<48|l4<<40|local<<32|reason,
 * ports (ICMP: type<<16|code; overflow: the destination port alone), source and
 * destination words.
 */
function dropFrom(k: bigint[], ts: number, src: bigint[] | null, ports: bigint, dst: bigint[]): DropWire {
  const l3 = bits(k[4], 48n, 8n);
  const l4 = bits(k[4], 40n, 8n);
  const icmp = l4 === 1 || l4 === 58;
  return {
    t: 'drop', ts, reason: u32(k[4]), loc: hex16(k[3]), eth: l3 === 4 ? 0x0800 : l3 === 6 ? 0x86dd : 0, len: 0,
    ifindex: u32(k[1], 32n), iif: u32(k[1]), netns: Number(k[0]), dst_in: hex16(k[2]),
    l3, l4,
    s4: l3 === 4 && src ? u32(src[0]) : 0, d4: l3 === 4 ? u32(dst[0]) : 0,
    s6: l3 === 6 && src ? words(src) : ZERO_WORDS, d6: l3 === 6 ? words(dst) : ZERO_WORDS,
    sport: icmp ? 0 : bits(ports, 16n, 16n), dport: icmp ? 0 : bits(ports, 0n, 16n), tflags: 0,
    icmp_type: icmp ? bits(ports, 16n, 16n) : 0, icmp_code: icmp ? bits(ports, 0n, 16n) : 0, local: bits(k[4], 32n, 8n), cpu: 0,
  };
}

const drop = (k: bigint[], ts: number) => dropFrom(k, ts, k.slice(6, 10), k[5], k.slice(10, 14));
const dropOverflow = (k: bigint[], ts: number) => dropFrom(k, ts, null, k[5], k.slice(6, 10));

function sockMeta(meta: bigint) {
  return { code: bits(meta, 56n, 8n), state: bits(meta, 48n, 8n), ca: bits(meta, 40n, 8n), pending: bits(meta, 32n, 8n), l3: bits(meta, 0n, 8n) };
}

function addrs(l3: number, k: bigint[], at: number) {
  return {
    l3,
    s4: l3 === 4 ? u32(k[at]) : 0, d4: l3 === 4 ? u32(k[at + 4]) : 0,
    s6: l3 === 6 ? words(k.slice(at, at + 4)) : ZERO_WORDS, d6: l3 === 6 ? words(k.slice(at + 4, at + 8)) : ZERO_WORDS,
  };
}

/**
 * The flow of a TCP key: netns, meta, sport<<16|dport, source and destination
 * words; or of an overflow key (netns, meta, destination port, destination
 * words): no source side.
 */
function tcpFlow(k: bigint[], l3: number, overflow: boolean) {
  if (!overflow) return { netns: Number(k[0]), sport: bits(k[2], 16n, 16n), dport: bits(k[2], 0n, 16n), ...addrs(l3, k, 3) };
  const dst = k.slice(3, 7);
  return {
    netns: Number(k[0]), sport: 0, dport: bits(k[2], 0n, 16n), l3,
    s4: 0, d4: l3 === 4 ? u32(dst[0]) : 0, s6: ZERO_WORDS, d6: l3 === 6 ? words(dst) : ZERO_WORDS,
  };
}

function sock(k: bigint[], ts: number, overflow: boolean): TcpSockWire | undefined {
  const m = sockMeta(k[1]);
  const t = SOCK_TYPES[m.code];
  if (!t) return undefined;
  return { t, ts, state: m.state, ca_state: m.ca, pending: m.pending, retransmits: 0, len: 0, cpu: 0, ...tcpFlow(k, m.l3, overflow) };
}

function incoming(k: bigint[], ts: number, overflow: boolean): IncomingWire | undefined {
  const action = bits(k[1], 56n, 8n);
  // Like an unknown socket event code: not a key we know. (The enricher would
  // otherwise label any unknown action as out-of-order.)
  if (action < 1 || action > 3) return undefined;
  return { t: 'incoming', ts, action, seq: 0, rcv_nxt: 0, len: 0, cpu: 0, ...tcpFlow(k, bits(k[1], 0n, 8n), overflow) };
}

const KEY_COUNT: Record<string, number> = { d: 14, od: 10, r: 11, or: 7, i: 11, oi: 7 };

/** Decode one printed map entry; undefined for a map or key shape we don't know. */
export function decodeEntry(e: MapEntry, ts: number): DecodedEntry | undefined {
  if (KEY_COUNT[e.map] !== e.keys.length) return undefined;
  const overflow = e.map.startsWith('o');
  const kind = (overflow ? e.map.slice(1) : e.map) as FlowKind;
  let event: EventWire | undefined;
  if (kind === 'd') event = overflow ? dropOverflow(e.keys, ts) : drop(e.keys, ts);
  else if (kind === 'r') event = sock(e.keys, ts, overflow);
  else if (kind === 'i') event = incoming(e.keys, ts, overflow);
  return event ? { kind, overflow, event } : undefined;
}
