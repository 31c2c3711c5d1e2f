// A TCP connection seen in a capture: its two endpoints and one Half per
// direction. Half `a` is the direction sent by the endpoint that sorts
// first (address, then port), so both directions of one connection meet
// under one key.
import { Half, halfFromArray, halfToArray } from './half.js';
import { compressIpv6 } from '../../decode/address.js';

export class Conn {
  readonly a = new Half();
  readonly b = new Half();
  /** Handshake RTT (SYN → first ACK after the SYN-ACK), µs; 0 unknown. */
  iRttUs = 0;
  synTime = -1;
  synAckSeen = false;
  lastTs = 0;
  /** Second-chance bit for eviction. */
  touched = false;
  /** Capture interface (index in its file) and name of the first packet. */
  ifIndex = 0;
  ifName: string | undefined;

  constructor(
    readonly key: string,
    readonly l3: 4 | 6,
    /** Sender of half a: IPv4 as number, IPv6 as a 16-char latin1 string. */
    readonly ipA: number | string,
    readonly portA: number,
    readonly ipB: number | string,
    readonly portB: number,
  ) {}

  half(i: 0 | 1): Half {
    return i === 0 ? this.a : this.b;
  }

  /** Text addresses of the sender and receiver of half i. */
  ends(i: 0 | 1): { src: { ip: string; port: number }; dst: { ip: string; port: number } } {
    const A = { ip: ipText(this.ipA), port: this.portA };
    const B = { ip: ipText(this.ipB), port: this.portB };
    return i === 0 ? { src: A, dst: B } : { src: B, dst: A };
  }

  /** Forget everything about the connection (its ports were reused by a new one). */
  reset(): void {
    Object.assign(this.a, new Half());
    Object.assign(this.b, new Half());
    this.iRttUs = 0;
    this.synTime = -1;
    this.synAckSeen = false;
  }

  toArray(): unknown[] {
    return [this.key, this.l3, this.ipA, this.portA, this.ipB, this.portB, this.iRttUs, this.synTime, this.synAckSeen ? 1 : 0, this.lastTs, this.ifIndex, this.ifName ?? null, halfToArray(this.a), halfToArray(this.b)];
  }

  static fromArray(x: unknown): Conn | null {
    if (!Array.isArray(x) || x.length !== 14) return null;
    const [key, l3, ipA, portA, ipB, portB, irtt, syn, synAck, lastTs, ifIndex, ifName, ha, hb] = x;
    const ipOk = (ip: unknown) => (l3 === 4 ? Number.isInteger(ip) && (ip as number) >= 0 && (ip as number) <= 0xffffffff : typeof ip === 'string' && ip.length === 16);
    const portOk = (p: unknown) => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;
    if (typeof key !== 'string' || (l3 !== 4 && l3 !== 6) || !ipOk(ipA) || !ipOk(ipB) || !portOk(portA) || !portOk(portB)) return null;
    if (![irtt, syn, lastTs, ifIndex].every((n) => typeof n === 'number' && Number.isFinite(n))) return null;
    if (ifName !== null && typeof ifName !== 'string') return null;
    const a = halfFromArray(ha);
    const b = halfFromArray(hb);
    if (!a || !b) return null;
    const c = new Conn(key, l3, ipA as number | string, portA as number, ipB as number | string, portB as number);
    Object.assign(c.a, a);
    Object.assign(c.b, b);
    c.iRttUs = irtt as number;
    c.synTime = syn as number;
    c.synAckSeen = synAck === 1;
    c.lastTs = lastTs as number;
    c.ifIndex = ifIndex as number;
    c.ifName = (ifName as string | null) ?? undefined;
    return c;
  }
}

export function ipText(ip: number | string): string {
  if (typeof ip === 'number') return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((ip.charCodeAt(i) << 8) | ip.charCodeAt(i + 1));
  // IPv4-mapped (::ffff:a.b.c.d), written the way the live records write it.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${ip.charCodeAt(12)}.${ip.charCodeAt(13)}.${ip.charCodeAt(14)}.${ip.charCodeAt(15)}`;
  return compressIpv6(g);
}
