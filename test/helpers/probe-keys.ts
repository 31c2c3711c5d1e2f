// Build aggregation map keys the way probes/*.bt pack them, and print them the
// way bpftrace prints a stats() map entry (u64 keys as signed int64), so tests
// can round-trip keys through decodeLine → decodeEntry → FlowAggregator
// without a kernel. Mirrors the "Aggregation key" comments in the probes.

/** The 32-bit word a little-endian load of the address's network-order bytes gives (what the probes read). */
export function v4Word(ip: string): bigint {
  const b = ip.split('.').map(Number);
  if (b.length !== 4 || b.some((x) => !(x >= 0 && x <= 255))) throw new Error(`bad IPv4 ${ip}`);
  return BigInt((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0);
}

/** IPv6 text (full or with ::) → its 16 bytes. */
export function v6Bytes(ip: string): number[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${ip}`);
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** Four 32-bit words, each a little-endian load of 4 network-order bytes ($s6a..$s6d). */
export function v6Words(ip: string): bigint[] {
  const b = v6Bytes(ip);
  return [0, 4, 8, 12].map((i) => BigInt((b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0));
}

/** Source/destination as the probes put them: IPv6 four words, IPv4 the word then 0, 0, 0. */
function addrWords(ip: string | undefined): bigint[] {
  if (ip === undefined) return [0n, 0n, 0n, 0n];
  return ip.includes(':') ? v6Words(ip) : [v4Word(ip), 0n, 0n, 0n];
}

export interface DropKeyInput {
  netns: number;
  ifindex: number;
  iif: number;
  dstIn: bigint;
  loc: bigint;
  l3: 0 | 4 | 6;
  l4: number;
  reason: number;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  src?: string;
  dst?: string;
  /** The probe's `local` flag (a receiving socket on a route-less ingress drop). */
  local?: 0 | 1;
}

/** probes/shared/drop-fields.bt.inc: $k1..$k14. */
export function dropKey(d: DropKeyInput): bigint[] {
  const l3 = BigInt(d.l3);
  const l4 = BigInt(d.l4);
  const icmp = d.l4 === 1 || d.l4 === 58;
  return [
    BigInt(d.netns),
    (BigInt(d.ifindex) << 32n) | BigInt(d.iif),
    d.dstIn,
    d.loc,
    (l3 << 48n) | (l4 << 40n) | (BigInt(d.local ?? 0) << 32n) | BigInt(d.reason),
    icmp ? (BigInt(d.icmpType ?? 0) << 16n) | BigInt(d.icmpCode ?? 0) : (BigInt(d.sport ?? 0) << 16n) | BigInt(d.dport ?? 0),
    ...addrWords(d.l3 ? d.src : undefined),
    ...addrWords(d.l3 ? d.dst : undefined),
  ];
}

/** Drop overflow key $o1..$o10: the drop key without the source (ports: the destination port, or ICMP type/code). */
export function dropOverflowKey(d: DropKeyInput): bigint[] {
  const k = dropKey(d);
  const icmp = d.l4 === 1 || d.l4 === 58;
  return [...k.slice(0, 5), icmp ? k[5] : BigInt(d.dport ?? 0), ...k.slice(10, 14)];
}

export interface SockKeyInput {
  /** 1 retrans, 2 synack, 3 tlp (src/source/program.ts SOCKET_FILE_WORDS). */
  code: number;
  netns: number;
  state: number;
  ca: number;
  pending: number;
  l3: 4 | 6;
  sport: number;
  dport: number;
  src: string;
  dst: string;
}

/** $k2 of probes/shared/tcp-socket-fields.bt.inc (also the overflow key $o1). */
export function sockMeta(s: Pick<SockKeyInput, 'code' | 'state' | 'ca' | 'pending' | 'l3'>): bigint {
  return (BigInt(s.code) << 56n) | (BigInt(s.state) << 48n) | (BigInt(s.ca) << 40n) | (BigInt(s.pending) << 32n) | BigInt(s.l3);
}

/** probes/shared/tcp-socket-fields.bt.inc: $k1..$k11. */
export function sockKey(s: SockKeyInput): bigint[] {
  return [BigInt(s.netns), sockMeta(s), (BigInt(s.sport) << 16n) | BigInt(s.dport), ...addrWords(s.src), ...addrWords(s.dst)];
}

/** Its overflow key $o1..$o7: netns, meta, the peer's port and address. */
export function sockOverflowKey(s: SockKeyInput): bigint[] {
  return [BigInt(s.netns), sockMeta(s), BigInt(s.dport), ...addrWords(s.dst)];
}

export interface IncomingKeyInput {
  /** 1 out-of-order, 2 retransmit, 3 duplicate. */
  action: number;
  netns: number;
  l3: 4 | 6;
  /** The peer (source of the lost packets). */
  peer: string;
  peerPort: number;
  local: string;
  localPort: number;
}

export function incomingMeta(i: Pick<IncomingKeyInput, 'action' | 'l3'>): bigint {
  return (BigInt(i.action) << 56n) | BigInt(i.l3);
}

/** probes/incoming-loss/tcp_probe.bt: $k1..$k11. */
export function incomingKey(i: IncomingKeyInput): bigint[] {
  return [BigInt(i.netns), incomingMeta(i), (BigInt(i.peerPort) << 16n) | BigInt(i.localPort), ...addrWords(i.peer), ...addrWords(i.local)];
}

/** Its overflow key $o1..$o7: netns, meta, our port and address. */
export function incomingOverflowKey(i: IncomingKeyInput): bigint[] {
  return [BigInt(i.netns), incomingMeta(i), BigInt(i.localPort), ...addrWords(i.local)];
}

/** One line as bpftrace prints a stats() map entry: keys as signed int64. */
export function mapLine(name: string, keys: bigint[], count: number, total: number): string {
  const avg = count ? Math.trunc(total / count) : 0;
  return `@${name}[${keys.map((k) => BigInt.asIntN(64, k).toString()).join(', ')}]: count ${count}, average ${avg}, total ${total}`;
}
