// One captured frame → the TCP segment fields the analysis needs, written
// into a reused struct (no allocation per packet). Link types: Ethernet
// (802.1Q/802.1ad tags), Linux cooked v1/v2, raw IP, BSD loopback/null.
// IPv4 and IPv6 (extension headers walked). Lengths come from the IP header,
// not from the captured bytes, so a snaplen of 64 (headers only, TCP options
// cut) still gives exact segment lengths; options are used when captured.
import type { DirHint } from '../reader/capture-reader.js';

export const LINKTYPE = { NULL: 0, ETHERNET: 1, RAW: 101, LOOP: 108, LINUX_SLL: 113, IPV4: 228, IPV6: 229, LINUX_SLL2: 276 } as const;

/** Why a frame was not analysed (counted per file). */
export const SKIP = {
  ok: 0,
  link: 1, // link type we do not decode
  nonIp: 2,
  nonTcp: 3,
  fragment: 4, // IP fragment: TCP lengths would be wrong
  truncated: 5, // captured bytes end before the fixed TCP header
  badHeader: 6, // impossible IP/TCP header values
} as const;
export const SKIP_NAMES = ['ok', 'unsupported_link_type', 'non_ip', 'non_tcp', 'ip_fragment', 'truncated_headers', 'bad_header'] as const;

export const TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10;

/** Max SACK blocks in one option (40 option bytes: 4). */
const MAX_SACK = 4;

export class Segment {
  l3: 4 | 6 = 4;
  /** IPv4 addresses as unsigned 32-bit numbers. */
  src4 = 0;
  dst4 = 0;
  /** IPv6 addresses as 16-character latin1 strings (one char per byte). */
  src6 = '';
  dst6 = '';
  sport = 0;
  dport = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  /** Raw (unscaled) window field. */
  win = 0;
  /** TCP payload bytes (from the IP lengths). */
  seglen = 0;
  /** The TCP options were not all captured (snaplen). */
  optsCut = false;
  /** Window scale option (shift), or -1 when absent. */
  wscale = -1;
  sackCount = 0;
  readonly sack = new Array<number>(MAX_SACK * 2).fill(0);
  /** Direction hint from the capture (SLL packet type / pcapng flags). */
  dir: DirHint = 0;
}

/** Decode a frame into `s`; returns SKIP.ok or the reason it was skipped. */
export function decodeFrame(b: Buffer, off: number, caplen: number, origlen: number, linktype: number, s: Segment): number {
  const end = off + caplen;
  let p = off;
  let etype = 0;
  s.dir = 0;
  switch (linktype) {
    case LINKTYPE.ETHERNET:
      if (caplen < 14) return SKIP.truncated;
      etype = b.readUInt16BE(p + 12);
      p += 14;
      break;
    case LINKTYPE.LINUX_SLL: {
      if (caplen < 16) return SKIP.truncated;
      const t = b.readUInt16BE(p);
      s.dir = t === 4 ? 2 : t <= 3 ? 1 : 0;
      etype = b.readUInt16BE(p + 14);
      p += 16;
      break;
    }
    case LINKTYPE.LINUX_SLL2: {
      if (caplen < 20) return SKIP.truncated;
      const t = b[p + 10];
      s.dir = t === 4 ? 2 : t <= 3 ? 1 : 0;
      etype = b.readUInt16BE(p);
      p += 20;
      break;
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (caplen < 4) return SKIP.truncated;
      // The address family, in the capturing host's byte order for NULL: accept either.
      const fam = b[p] !== 0 ? b.readUInt32LE(p) : b.readUInt32BE(p);
      etype = fam === 2 ? 0x0800 : fam === 10 || fam === 24 || fam === 28 || fam === 30 ? 0x86dd : 0;
      p += 4;
      break;
    }
    case LINKTYPE.RAW:
    case 12: // DLT_RAW as written by some systems
    case 14:
      if (caplen < 1) return SKIP.truncated;
      etype = b[p] >> 4 === 6 ? 0x86dd : 0x0800;
      break;
    case LINKTYPE.IPV4:
      etype = 0x0800;
      break;
    case LINKTYPE.IPV6:
      etype = 0x86dd;
      break;
    default:
      return SKIP.link;
  }
  // VLAN tags (802.1Q, 802.1ad, old QinQ), at most a few.
  for (let i = 0; i < 4 && (etype === 0x8100 || etype === 0x88a8 || etype === 0x9100); i++) {
    if (p + 4 > end) return SKIP.truncated;
    etype = b.readUInt16BE(p + 2);
    p += 4;
  }
  let l4len: number;
  if (etype === 0x0800) {
    if (p + 20 > end) return SKIP.truncated;
    const vihl = b[p];
    const ihl = (vihl & 0x0f) * 4;
    if (vihl >> 4 !== 4 || ihl < 20) return SKIP.badHeader;
    let total = b.readUInt16BE(p + 2);
    // 0: a segmentation-offload super-packet captured on the sender; use the frame length.
    if (total === 0) total = origlen - (p - off);
    if (total < ihl) return SKIP.badHeader;
    if (b[p + 9] !== 6) return SKIP.nonTcp;
    if ((b.readUInt16BE(p + 6) & 0x3fff) !== 0) return SKIP.fragment;
    s.l3 = 4;
    s.src4 = b.readUInt32BE(p + 12);
    s.dst4 = b.readUInt32BE(p + 16);
    l4len = total - ihl;
    p += ihl;
  } else if (etype === 0x86dd) {
    if (p + 40 > end) return SKIP.truncated;
    if (b[p] >> 4 !== 6) return SKIP.badHeader;
    let plen = b.readUInt16BE(p + 4);
    if (plen === 0) plen = origlen - (p - off) - 40; // jumbogram or offload super-packet
    let nh = b[p + 6];
    s.l3 = 6;
    s.src6 = b.toString('latin1', p + 8, p + 24);
    s.dst6 = b.toString('latin1', p + 24, p + 40);
    p += 40;
    let ext = 0;
    for (let i = 0; nh !== 6; i++) {
      if (i >= 16) return SKIP.badHeader;
      if (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140) {
        if (p + 2 > end) return SKIP.truncated;
        const l = (b[p + 1] + 1) * 8;
        nh = b[p];
        p += l;
        ext += l;
      } else if (nh === 44) {
        if (p + 8 > end) return SKIP.truncated;
        // Offset or more-fragments set: a fragment of a bigger datagram.
        if ((b.readUInt16BE(p + 2) & 0xfff9) !== 0) return SKIP.fragment;
        nh = b[p];
        p += 8;
        ext += 8;
      } else if (nh === 51) {
        if (p + 2 > end) return SKIP.truncated;
        const l = (b[p + 1] + 2) * 4;
        nh = b[p];
        p += l;
        ext += l;
      } else return SKIP.nonTcp; // 59 no next header, 50 ESP, UDP, ICMPv6, …
    }
    l4len = plen - ext;
  } else return SKIP.nonIp;

  if (p + 20 > end) return SKIP.truncated;
  const doff = (b[p + 12] >> 4) * 4;
  if (doff < 20 || l4len < doff) return SKIP.badHeader;
  s.sport = b.readUInt16BE(p);
  s.dport = b.readUInt16BE(p + 2);
  s.seq = b.readUInt32BE(p + 4);
  s.ack = b.readUInt32BE(p + 8);
  s.flags = b[p + 13];
  s.win = b.readUInt16BE(p + 14);
  s.seglen = l4len - doff;
  s.wscale = -1;
  s.sackCount = 0;
  const optEnd = p + doff;
  s.optsCut = optEnd > end;
  if (doff > 20) tcpOptions(b, p + 20, optEnd > end ? end : optEnd, s);
  return SKIP.ok;
}

function tcpOptions(b: Buffer, p: number, end: number, s: Segment): void {
  while (p < end) {
    const kind = b[p];
    if (kind === 0) return;
    if (kind === 1) {
      p++;
      continue;
    }
    if (p + 2 > end) return;
    const len = b[p + 1];
    if (len < 2 || p + len > end) {
      // Malformed, or cut by the snaplen: nothing after it can be trusted.
      if (p + len > end) s.optsCut = true;
      return;
    }
    if (kind === 3 && len === 3) s.wscale = Math.min(b[p + 2], 14);
    else if (kind === 5 && len >= 10) {
      const n = Math.min(MAX_SACK, (len - 2) >> 3);
      for (let i = 0; i < n; i++) {
        s.sack[i * 2] = b.readUInt32BE(p + 2 + i * 8);
        s.sack[i * 2 + 1] = b.readUInt32BE(p + 6 + i * 8);
      }
      s.sackCount = n;
    }
    p += len;
  }
}
