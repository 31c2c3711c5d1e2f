// Crafted captures for tests: TCP segments over Ethernet (optionally VLAN
// tagged), Linux cooked v1/v2, raw IP or loopback, IPv4 or IPv6 (with
// extension headers), written as classic pcap (either byte order, micro- or
// nanoseconds) or pcapng (several interfaces, SPB, unknown blocks).
// Checksums are left 0: neither tshark (by default) nor droptrace checks them.

export interface Endpoint {
  ip: string;
  port: number;
}

export interface TcpSpec {
  src: Endpoint;
  dst: Endpoint;
  seq: number;
  ack?: number;
  flags: string; // letters: S A F R P
  win?: number;
  len?: number;
  /** TCP options: mss, wscale, sackPerm, ts [val, ecr], sack [[l, r], …]. */
  opts?: { mss?: number; wscale?: number; sackPerm?: boolean; ts?: [number, number]; sack?: Array<[number, number]> };
  /** IPv6 extension headers before TCP: next-header numbers (0 hop-by-hop, 60 dest opts, 43 routing). */
  ext6?: number[];
  vlan?: number[];
}

export interface Frame {
  tsUs: number;
  bytes: Buffer;
  /** pcapng interface id. */
  iface?: number;
  /** Original length when the frame is cut (snaplen). */
  origLen?: number;
}

const FLAG_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16 };

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function tcpHeader(s: TcpSpec): Buffer {
  const o: number[] = [];
  if (s.opts?.mss !== undefined) o.push(2, 4, s.opts.mss >> 8, s.opts.mss & 0xff);
  if (s.opts?.sackPerm) o.push(4, 2);
  if (s.opts?.ts) {
    const t = Buffer.alloc(10);
    t[0] = 8; t[1] = 10;
    t.writeUInt32BE(s.opts.ts[0] >>> 0, 2);
    t.writeUInt32BE(s.opts.ts[1] >>> 0, 6);
    o.push(...t);
  }
  if (s.opts?.wscale !== undefined) o.push(1, 3, 3, s.opts.wscale);
  if (s.opts?.sack?.length) {
    o.push(1, 1, 5, 2 + 8 * s.opts.sack.length);
    for (const [l, r] of s.opts.sack) {
      const t = Buffer.alloc(8);
      t.writeUInt32BE(l >>> 0, 0);
      t.writeUInt32BE(r >>> 0, 4);
      o.push(...t);
    }
  }
  while (o.length % 4) o.push(0);
  const h = Buffer.alloc(20 + o.length);
  h.writeUInt16BE(s.src.port, 0);
  h.writeUInt16BE(s.dst.port, 2);
  h.writeUInt32BE(s.seq >>> 0, 4);
  h.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  h[12] = ((20 + o.length) / 4) << 4;
  h[13] = [...s.flags].reduce((f, c) => f | (FLAG_BITS[c] ?? 0), 0);
  h.writeUInt16BE(s.win ?? 65535, 14);
  Buffer.from(o).copy(h, 20);
  return h;
}

/** The IP packet (no link header). */
export function ipPacket(s: TcpSpec): Buffer {
  const tcp = tcpHeader(s);
  const payload = Buffer.alloc(s.len ?? 0, 0x61);
  if (s.src.ip.includes(':')) {
    const exts: Buffer[] = [];
    const chain = [...(s.ext6 ?? []), 6];
    for (let i = 0; i < (s.ext6 ?? []).length; i++) {
      const e = Buffer.alloc(8);
      e[0] = chain[i + 1];
      e[1] = 0; // (0 + 1) * 8 bytes
      if (s.ext6![i] === 43) { e[2] = 0; e[3] = 0; } // routing type 0, segments left 0
      else { e[2] = 1; e[3] = 4; } // PadN option filling the header
      exts.push(e);
    }
    const ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(exts.length * 8 + tcp.length + payload.length, 4);
    ip[6] = chain[0];
    ip[7] = 64;
    ipv6Bytes(s.src.ip).copy(ip, 8);
    ipv6Bytes(s.dst.ip).copy(ip, 24);
    return Buffer.concat([ip, ...exts, tcp, payload]);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + tcp.length + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = 6;
  ipv4Bytes(s.src.ip).copy(ip, 12);
  ipv4Bytes(s.dst.ip).copy(ip, 16);
  return Buffer.concat([ip, tcp, payload]);
}

export type Link = 'ethernet' | 'sll' | 'sll2' | 'raw' | 'null';
export const LINKTYPES: Record<Link, number> = { ethernet: 1, sll: 113, sll2: 276, raw: 101, null: 0 };

export function frame(s: TcpSpec, link: Link = 'ethernet', outgoing = false): Buffer {
  const ip = ipPacket(s);
  const v6 = s.src.ip.includes(':');
  const etype = v6 ? 0x86dd : 0x0800;
  switch (link) {
    case 'ethernet': {
      const tags = (s.vlan ?? []).map((id, i, all) => {
        const t = Buffer.alloc(4);
        t.writeUInt16BE(id, 0);
        t.writeUInt16BE(i === all.length - 1 ? etype : 0x8100, 2);
        return t;
      });
      const eth = Buffer.alloc(14);
      Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(eth);
      eth.writeUInt16BE(tags.length ? (s.vlan!.length > 1 ? 0x88a8 : 0x8100) : etype, 12);
      return Buffer.concat([eth, ...tags, ip]);
    }
    case 'sll': {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(outgoing ? 4 : 0, 0);
      h.writeUInt16BE(1, 2);
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etype, 14);
      return Buffer.concat([h, ip]);
    }
    case 'sll2': {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etype, 0);
      h.writeUInt32BE(2, 4);
      h.writeUInt16BE(1, 8);
      h[10] = outgoing ? 4 : 0;
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
    case 'raw':
      return ip;
    case 'null': {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(v6 ? 30 : 2, 0);
      return Buffer.concat([h, ip]);
    }
  }
}

export function pcapFile(frames: Frame[], o: { linktype?: number; bigEndian?: boolean; nano?: boolean; snaplen?: number } = {}): Buffer {
  const be = o.bigEndian ?? false;
  const u32 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt32BE(v >>> 0, off) : b.writeUInt32LE(v >>> 0, off));
  const u16 = (b: Buffer, v: number, off: number) => (be ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off));
  const gh = Buffer.alloc(24);
  u32(gh, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(gh, 2, 4);
  u16(gh, 4, 6);
  u32(gh, o.snaplen ?? 262144, 16);
  u32(gh, o.linktype ?? 1, 20);
  const parts = [gh];
  for (const f of frames) {
    const h = Buffer.alloc(16);
    u32(h, Math.floor(f.tsUs / 1e6), 0);
    u32(h, o.nano ? (f.tsUs % 1e6) * 1000 : f.tsUs % 1e6, 4);
    u32(h, f.bytes.length, 8);
    u32(h, f.origLen ?? f.bytes.length, 12);
    parts.push(h, f.bytes);
  }
  return Buffer.concat(parts);
}

function block(type: number, body: Buffer): Buffer {
  const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
  const len = 12 + body.length + pad.length;
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(len, 4);
  const t = Buffer.alloc(4);
  t.writeUInt32LE(len, 0);
  return Buffer.concat([h, body, pad, t]);
}

function option(code: number, value: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16LE(code, 0);
  h.writeUInt16LE(value.length, 2);
  return Buffer.concat([h, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

export interface PcapngInterface {
  linktype: number;
  name?: string;
  /** if_tsresol byte (default 6: microseconds). */
  tsresol?: number;
  snaplen?: number;
}

/** pcapng: SHB, the interfaces, then EPBs (or an SPB for frames with `simple`), with extra blocks where asked. */
export function pcapngFile(ifaces: PcapngInterface[], frames: Array<Frame & { simple?: boolean; flags?: number }>, o: { unknownBlockAfter?: number } = {}): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeUInt16LE(0, 6);
  shb.writeInt32LE(-1, 8);
  shb.writeInt32LE(-1, 12);
  const parts = [block(0x0a0d0d0a, shb)];
  for (const i of ifaces) {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(i.linktype, 0);
    b.writeUInt32LE(i.snaplen ?? 262144, 4);
    const opts: Buffer[] = [];
    if (i.name) opts.push(option(2, Buffer.from(i.name)));
    if (i.tsresol !== undefined) opts.push(option(9, Buffer.from([i.tsresol])));
    if (opts.length) opts.push(Buffer.alloc(4));
    parts.push(block(1, Buffer.concat([b, ...opts])));
  }
  frames.forEach((f, n) => {
    if (f.simple) {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(f.origLen ?? f.bytes.length, 0);
      parts.push(block(3, Buffer.concat([b, f.bytes])));
    } else {
      const res = ifaces[f.iface ?? 0].tsresol ?? 6;
      const units = res & 0x80 ? BigInt(f.tsUs) * (1n << BigInt(res & 0x7f)) / 1_000_000n : (BigInt(f.tsUs) * 10n ** BigInt(res)) / 1_000_000n;
      const b = Buffer.alloc(20);
      b.writeUInt32LE(f.iface ?? 0, 0);
      b.writeUInt32LE(Number(units >> 32n), 4);
      b.writeUInt32LE(Number(units & 0xffffffffn), 8);
      b.writeUInt32LE(f.bytes.length, 12);
      b.writeUInt32LE(f.origLen ?? f.bytes.length, 16);
      const pad = Buffer.alloc((4 - (f.bytes.length % 4)) % 4);
      const opts: Buffer[] = [];
      if (f.flags !== undefined) {
        const v = Buffer.alloc(4);
        v.writeUInt32LE(f.flags, 0);
        opts.push(option(2, v), Buffer.alloc(4));
      }
      parts.push(block(6, Buffer.concat([b, f.bytes, pad, ...opts])));
    }
    if (o.unknownBlockAfter === n) parts.push(block(0x00000bad, Buffer.from('an unknown block type, to be skipped')), block(5, Buffer.alloc(12)));
  });
  return Buffer.concat(parts);
}

/**
 * A conversation between a client and a server, for building scenarios:
 * each call appends one segment at the next time step (default 1 ms apart).
 */
export class Conversation {
  frames: Array<{ tsUs: number; spec: TcpSpec }> = [];
  t: number;
  constructor(readonly client: Endpoint, readonly server: Endpoint, t0Us = 1_700_000_000_000_000, readonly extra: Partial<TcpSpec> = {}) {
    this.t = t0Us;
  }
  /** Client → server (c2s true) or server → client. */
  seg(c2s: boolean, seq: number, ack: number | undefined, flags: string, o: Partial<TcpSpec> & { dtUs?: number } = {}): this {
    this.t += o.dtUs ?? 1000;
    const { dtUs: _d, ...rest } = o;
    this.frames.push({ tsUs: this.t, spec: { ...this.extra, src: c2s ? this.client : this.server, dst: c2s ? this.server : this.client, seq: seq >>> 0, ack: ack === undefined ? undefined : ack >>> 0, flags, ...rest } });
    return this;
  }
  toFrames(link: Link = 'ethernet'): Frame[] {
    return this.frames.map((f) => ({ tsUs: f.tsUs, bytes: frame(f.spec, link, f.spec.src === this.client) }));
  }
}
