// User filters: parsed and validated here, then compiled to bpftrace
// predicates made only of fixed variable names and integers we rendered
// ourselves. Nothing a user typed ever reaches the program text.
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { escapeForTerminal } from '../text/escape.js';

export interface Cidr {
  family: 4 | 6;
  bytes: number[]; // network address, masked
  prefix: number;
  text: string;
}

export interface PortRange {
  from: number;
  to: number;
}

/** Interface by name (resolved to ifindex in the host netns) or by index. */
export type IfaceRef = { name: string } | { index: number };

export interface Filters {
  hosts: Cidr[];
  ports: PortRange[];
  protos: number[];
  ifaces: IfaceRef[];
  netns: number[];
  reasons: string[];
  excludeReasons: string[];
}

export interface RawFilters {
  host?: string[];
  port?: string[];
  proto?: string[];
  iface?: string[];
  netns?: string[];
  reason?: string[];
  excludeReason?: string[];
}

export const PROTO_NUMBERS: Readonly<Record<string, number>> = {
  icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, 'ipv6-icmp': 58, sctp: 132, udplite: 136,
};

const MAX_VALUE_LEN = 64;
const MAX_VALUES = 64;

// Quoted and escaped like every other name printed to a terminal: JSON quoting
// alone leaves C1 controls and bidi overrides raw in the error message.
function describe(v: string): string {
  return `"${escapeForTerminal(v.length > 40 ? v.slice(0, 40) + '…' : v)}"`;
}

function guard(flag: string, values: string[] | undefined): string[] {
  const list = values ?? [];
  // Comma-separated lists are accepted too: --filter-port 53,443. The limit
  // counts values after splitting, so one long list cannot bypass it.
  const out: string[] = [];
  for (const raw of list) {
    if (typeof raw !== 'string') throw new UsageError(`--${flag}: expected a value, got ${describe(String(raw))}`);
    for (const v of raw.split(',')) {
      if (out.length >= MAX_VALUES) throw new UsageError(`--${flag}: at most ${MAX_VALUES} values`);
      if (v.length === 0) throw new UsageError(`--${flag}: empty value`);
      if (v.length > MAX_VALUE_LEN) throw new UsageError(`--${flag}: value too long (${v.length} characters, max ${MAX_VALUE_LEN})`);
      if (!/^[\x21-\x7e]+$/.test(v)) throw new UsageError(`--${flag}: ${describe(v)} contains spaces, control or non-ASCII characters`);
      if (v.startsWith('-')) throw new UsageError(`--${flag}: ${describe(v)} looks like an option, not a value`);
      out.push(v);
    }
  }
  return out;
}

export function parseCidr(v: string, flag = 'filter-host'): Cidr {
  const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(v);
  const fam = m ? isIP(m[1]) : 0;
  if (!m || fam === 0) throw new UsageError(`--${flag}: ${describe(v)} is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`);
  const family = fam as 4 | 6;
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) throw new UsageError(`--${flag}: prefix /${prefix} is longer than ${max} bits in ${describe(v)}`);
  const bytes = family === 4 ? m[1].split('.').map(Number) : ipv6Bytes(m[1]);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { family, bytes, prefix, text: v };
}

function ipv6Bytes(addr: string): number[] {
  let a = addr;
  // Embedded IPv4 tail (::ffff:1.2.3.4).
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const p = v4[1].split('.').map(Number);
    a = a.slice(0, -v4[1].length) + ((p[0] << 8) | p[1]).toString(16) + ':' + ((p[2] << 8) | p[3]).toString(16);
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    out.push((n >> 8) & 0xff, n & 0xff);
  }
  return out;
}

function parsePort(v: string): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  if (!m) throw new UsageError(`--filter-port: ${describe(v)} is not a port (1-65535) or range (8000-8080)`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || from > to) throw new UsageError(`--filter-port: ${describe(v)} is out of range (1-65535, low-high)`);
  return { from, to };
}

function parseProto(v: string): number {
  const known = PROTO_NUMBERS[v.toLowerCase()];
  if (known !== undefined) return known;
  if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return Number(v);
  throw new UsageError(`--filter-proto: ${describe(v)} is not a protocol (${Object.keys(PROTO_NUMBERS).join(', ')} or 0-255)`);
}

// Linux interface names: 1-15 bytes, no '/', ':' or whitespace. We accept the
// common portable subset; an exotic name can be given by index instead.
function parseIface(v: string): IfaceRef {
  if (/^\d{1,10}$/.test(v)) {
    const index = Number(v);
    if (index < 1 || index > 0x7fffffff) throw new UsageError(`--filter-iface: index ${v} is out of range`);
    return { index };
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/.test(v)) {
    throw new UsageError(`--filter-iface: ${describe(v)} is not an interface name (letters, digits, _ . @ -, max 15) or index`);
  }
  return { name: v };
}

function parseNetns(v: string): number {
  // "4026531840" or "net:[4026531840]" (as readlink prints it), nothing in between.
  const m = /^(?:net:\[(\d{1,10})\]|(\d{1,10}))$/.exec(v);
  const ino = m ? Number(m[1] ?? m[2]) : 0;
  if (!m || ino > 0xffffffff || ino === 0) {
    throw new UsageError(`--filter-netns: ${describe(v)} is not a netns inode (e.g. 4026531840 or net:[4026531840])`);
  }
  return ino;
}

function parseReason(v: string, flag: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(v)) throw new UsageError(`--${flag}: ${describe(v)} is not a drop reason name (e.g. NETFILTER_DROP)`);
  return v.toUpperCase().replace(/^SKB_DROP_REASON_/, '');
}

export function parseFilters(raw: RawFilters): Filters {
  return {
    hosts: guard('filter-host', raw.host).map((v) => parseCidr(v)),
    ports: guard('filter-port', raw.port).map(parsePort),
    protos: guard('filter-proto', raw.proto).map(parseProto),
    ifaces: guard('filter-iface', raw.iface).map(parseIface),
    netns: guard('filter-netns', raw.netns).map(parseNetns),
    reasons: guard('filter-reason', raw.reason).map((v) => parseReason(v, 'filter-reason')),
    excludeReasons: guard('exclude-reason', raw.excludeReason).map((v) => parseReason(v, 'exclude-reason')),
  };
}

export function isEmpty(f: Filters): boolean {
  return !f.hosts.length && !f.ports.length && !f.protos.length && !f.ifaces.length && !f.netns.length && !f.reasons.length && !f.excludeReasons.length;
}
