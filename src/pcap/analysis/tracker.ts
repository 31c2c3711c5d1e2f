// Per-connection, per-direction TCP analysis of captured segments, following
// the definitions Wireshark documents for its tcp.analysis.* flags (User's
// Guide, "TCP Analysis"), evaluated in the same order so that the flags that
// supersede others do: zero-window probe, zero window, lost segment
// (previous segment not captured), keep-alive, window full; then on the ACK
// side keep-alive ACK / zero-window-probe ACK (neither counted), duplicate
// ACK, ACKed unseen segment; then for segments that do not advance the
// sequence: spurious retransmission, fast retransmission, out-of-order,
// retransmission. Departures from Wireshark, all deliberate:
//  - "known" flags instead of treating sequence/ACK value 0 as unset, so a
//    connection whose sequence passes exactly 0 is analysed like any other;
//  - a side that never sent data or SYN (capture started mid-connection)
//    gets its next sequence from its first pure ACK, so its duplicate ACKs
//    are recognised;
//  - the retransmission family is disjoint (see categories.ts).
// State is bounded: at most maxConnections connections; beyond that the
// least recently active one (second chance) is evicted and counted.
import { CAT, SIDE, type Category, type Side } from './categories.js';
import { Conn } from './connection.js';
import { Half, MAX_HOLES, SEG_KEEPALIVE, SEG_ZWP } from './half.js';
import { add, ge, gt, le, lt } from './seq.js';
import { TH_ACK, TH_FIN, TH_RST, TH_SYN, type Segment } from '../decode/packet.js';

const SFR = TH_SYN | TH_FIN | TH_RST;
/** Wireshark: a fast retransmission follows the last duplicate ACK within 20 ms. */
const FAST_RETX_US = 20_000;
/** Wireshark: out-of-order threshold when the handshake RTT is unknown, 3 ms. */
const OOO_DEFAULT_US = 3_000;

export interface CountSink {
  /** One occurrence of `cat` for the data direction `half` of `conn`. */
  count(conn: Conn, half: 0 | 1, cat: Category, side: Side, bytes: number): void;
}

export interface TrackerStats {
  connections: number;
  evicted: number;
  portReuses: number;
}

export class Tracker {
  readonly conns = new Map<string, Conn>();
  readonly stats: TrackerStats = { connections: 0, evicted: 0, portReuses: 0 };
  /** Direction (half) of the last segment analysed. */
  lastHalf: 0 | 1 = 0;

  constructor(private readonly sink: CountSink, private readonly maxConnections: number) {}

  /** Analyse one segment captured at time tsUs on interface (index, name). */
  segment(s: Segment, tsUs: number, ifIndex: number, ifName: string | undefined): Conn {
    let key: string;
    let fwdIsA: boolean;
    if (s.l3 === 4) {
      fwdIsA = s.src4 < s.dst4 || (s.src4 === s.dst4 && s.sport <= s.dport);
      key = fwdIsA
        ? String.fromCharCode(s.src4 >>> 16, s.src4 & 0xffff, s.sport, s.dst4 >>> 16, s.dst4 & 0xffff, s.dport)
        : String.fromCharCode(s.dst4 >>> 16, s.dst4 & 0xffff, s.dport, s.src4 >>> 16, s.src4 & 0xffff, s.sport);
    } else {
      fwdIsA = s.src6 < s.dst6 || (s.src6 === s.dst6 && s.sport <= s.dport);
      key = fwdIsA ? s.src6 + String.fromCharCode(s.sport) + s.dst6 + String.fromCharCode(s.dport) : s.dst6 + String.fromCharCode(s.dport) + s.src6 + String.fromCharCode(s.sport);
    }
    let c = this.conns.get(key);
    if (c === undefined) {
      if (this.conns.size >= this.maxConnections) this.evictOne();
      c = fwdIsA
        ? new Conn(key, s.l3, s.l3 === 4 ? s.src4 : s.src6, s.sport, s.l3 === 4 ? s.dst4 : s.dst6, s.dport)
        : new Conn(key, s.l3, s.l3 === 4 ? s.dst4 : s.dst6, s.dport, s.l3 === 4 ? s.src4 : s.src6, s.sport);
      c.ifIndex = ifIndex;
      c.ifName = ifName;
      this.conns.set(key, c);
      this.stats.connections++;
    } else c.touched = true;
    c.lastTs = tsUs;
    this.lastHalf = fwdIsA ? 0 : 1;
    this.analyse(c, fwdIsA ? 0 : 1, s, tsUs);
    return c;
  }

  /** Put back a connection carried over from a previous file (state file). */
  restore(c: Conn): void {
    if (this.conns.size >= this.maxConnections) this.evictOne();
    this.conns.set(c.key, c);
  }

  /**
   * One live iterator over the table, kept between evictions: a fresh one
   * would walk again over every slot deleted since the last rehash, which
   * made evicting quadratic (64 s instead of 3 s for 1 M connections).
   */
  private evictIter: Iterator<[string, Conn]> | null = null;

  private evictOne(): void {
    // Second chance: a connection touched since it was (re)inserted moves to
    // the back once; the first untouched one goes.
    for (let guard = 0; guard <= this.conns.size * 2 + 1; guard++) {
      this.evictIter ??= this.conns.entries();
      const n = this.evictIter.next();
      if (n.done) {
        this.evictIter = null;
        continue;
      }
      const [k, c] = n.value;
      this.conns.delete(k);
      if (c.touched) {
        c.touched = false;
        this.conns.set(k, c);
        continue;
      }
      this.stats.evicted++;
      return;
    }
  }

  private analyse(c: Conn, fi: 0 | 1, s: Segment, ts: number): void {
    const fwd = fi === 0 ? c.a : c.b;
    const rev = fi === 0 ? c.b : c.a;
    const ri = (1 - fi) as 0 | 1;
    const flags = s.flags;
    const seq = s.seq;
    const ack = s.ack;
    const seglen = s.seglen;
    const win = s.win;
    const sink = this.sink;

    if (flags & TH_SYN) {
      if (!(flags & TH_ACK) && fwd.sawSyn && seq !== fwd.isn) {
        // A new connection on the same ports (Wireshark: "port numbers reused").
        c.reset();
        this.stats.portReuses++;
      }
      this.syn(c, fwd, rev, s, ts);
    } else if (c.synTime >= 0 && c.synAckSeen && c.iRttUs === 0 && flags & TH_ACK) {
      c.iRttUs = Math.max(1, ts - c.synTime);
    }
    if (fwd.packets === 0) fwd.dirHint = s.dir;
    fwd.packets++;
    if (flags & TH_FIN) fwd.fin = true;
    if (flags & TH_RST) fwd.rst = true;

    // --- the sender's side of this segment
    let seg = 0;
    if (seglen === 1 && fwd.nextKnown && seq === fwd.nextseq && rev.win === 0) {
      seg = SEG_ZWP;
      sink.count(c, fi, CAT.zeroWindowProbe, SIDE.none, 1);
    } else {
      if (win === 0 && !(flags & SFR)) sink.count(c, ri, CAT.zeroWindow, SIDE.none, 0);
      if (fwd.nextKnown && gt(seq, fwd.nextseq) && !(flags & TH_RST)) {
        addHole(fwd, fwd.nextseq, seq);
        sink.count(c, fi, CAT.lostSegment, SIDE.upstream, 0);
      }
      if (seglen <= 1 && fwd.nextKnown && seq === add(fwd.nextseq, -1) && !(flags & SFR)) {
        seg = SEG_KEEPALIVE;
        sink.count(c, fi, CAT.keepAlive, SIDE.none, seglen);
      }
      if (seglen > 0 && rev.winBytes >= 0 && rev.ackKnown && add(seq, seglen) === add(rev.lastack, rev.winBytes) && !(flags & SFR)) {
        sink.count(c, fi, CAT.windowFull, SIDE.none, seglen);
      }
    }

    // --- the receiver's side: what this packet acknowledges
    let dup = false;
    const sameAck = seglen === 0 && fwd.nextKnown && seq === fwd.nextseq && fwd.ackKnown && !(flags & SFR) && win === fwd.win;
    if (sameAck && win !== 0 && ack === fwd.lastack && rev.lastSeg & SEG_KEEPALIVE) {
      // keep-alive ACK: not a duplicate ACK
    } else if (sameAck && win === 0 && (ack === fwd.lastack || ack === add(fwd.lastack, 1)) && rev.lastSeg & SEG_ZWP) {
      // zero-window-probe ACK: not a duplicate ACK
    } else if (sameAck && win !== 0 && ack === fwd.lastack) {
      dup = true;
      fwd.dupacks++;
      sink.count(c, ri, CAT.dupAck, SIDE.none, 0);
    }
    // A window update repeating the ACK does not end a duplicate-ACK run (as tshark 4.0 behaves).
    if (!dup && !(fwd.ackKnown && ack === fwd.lastack && seglen === 0)) fwd.dupacks = 0;
    if (flags & TH_ACK) {
      if (rev.maxKnown && gt(ack, rev.maxseq)) {
        sink.count(c, ri, CAT.ackedUnseen, SIDE.none, 0);
        rev.maxseq = rev.nextseq;
      }
      if (s.sackCount > 0) {
        const l0 = s.sack[0], r0 = s.sack[1];
        const dsack = le(r0, ack) || (s.sackCount > 1 && ge(l0, s.sack[2]) && le(r0, s.sack[3]));
        sink.count(c, ri, dsack ? CAT.dsack : CAT.sack, SIDE.none, 0);
      }
      if (rev.rttStart >= 0 && ge(ack, rev.rttEnd)) {
        rev.rttSample(ts - rev.rttStart);
        rev.rttStart = -1;
      }
      if (rev.holes !== null) ackHoles(rev, ack);
    }

    // --- segments that do not advance the sequence
    const synfin = flags & (TH_SYN | TH_FIN) ? 1 : 0;
    const end = add(seq, seglen + synfin);
    let retx = false;
    if ((seglen > 0 || synfin) && seg !== SEG_KEEPALIVE) {
      let notAdvanced = fwd.nextKnown && lt(seq, fwd.nextseq);
      // Data after a possible zero-window probe (one byte below nextseq) is new data.
      if (seglen > 1 && add(fwd.nextseq, -1) === seq) notAdvanced = false;
      if (seglen > 0 && rev.ackKnown && le(add(seq, seglen), rev.lastack)) {
        retx = true;
        sink.count(c, fi, CAT.spuriousRetransmit, SIDE.none, seglen);
      } else if (notAdvanced) {
        retx = true;
        const side = fillHole(fwd, seq, add(seq, seglen || 1)) ? SIDE.upstream : SIDE.downstream;
        let cat: Category;
        if (rev.dupacks >= 2 && rev.lastack === seq && ts - rev.lastackTime < FAST_RETX_US) cat = CAT.fastRetransmit;
        else if (ts - fwd.nextTime < (c.iRttUs || OOO_DEFAULT_US) && fwd.nextseq !== end) cat = CAT.outOfOrder;
        else cat = CAT.retransmit;
        sink.count(c, fi, cat, side, seglen);
      }
    }

    // --- update this direction's state
    if (seglen > 0 || synfin) {
      if (seg !== SEG_ZWP) {
        const advanced = !fwd.nextKnown || gt(end, fwd.nextseq);
        if (advanced) {
          fwd.nextseq = end;
          fwd.nextKnown = true;
          fwd.nextTime = ts;
          if (seglen > 0 && fwd.rttStart < 0 && !retx) {
            fwd.rttStart = ts;
            fwd.rttEnd = end;
          }
        }
        if (!fwd.maxKnown || seq === fwd.maxseq) {
          fwd.maxseq = fwd.nextseq;
          fwd.maxKnown = true;
        }
      }
      // Karn: a retransmission below the timed segment makes its ACK ambiguous.
      if (retx && fwd.rttStart >= 0 && lt(seq, fwd.rttEnd)) fwd.rttStart = -1;
    } else if (!fwd.nextKnown) {
      fwd.nextseq = seq;
      fwd.nextKnown = true;
      fwd.nextTime = ts;
    }
    fwd.win = win;
    fwd.winBytes = fwd.wscale < 0 ? -1 : flags & TH_SYN ? win : win * 2 ** fwd.wscale;
    if (flags & TH_ACK) {
      fwd.lastack = ack;
      fwd.ackKnown = true;
      fwd.lastackTime = ts;
    }
    fwd.lastSeg = seg;
  }

  private syn(c: Conn, fwd: Half, rev: Half, s: Segment, ts: number): void {
    if (!fwd.sawSyn) {
      fwd.sawSyn = true;
      fwd.isn = s.seq;
      fwd.synWscale = s.wscale >= 0 ? s.wscale : s.optsCut ? -3 : -1;
    }
    if (!(s.flags & TH_ACK)) {
      // The last SYN counts (Wireshark: a retransmitted SYN restarts the handshake RTT).
      c.synTime = ts;
    } else c.synAckSeen = true;
    // Both SYNs seen: scaling applies only if both offered it (RFC 7323).
    if (fwd.synWscale !== -2 && rev.synWscale !== -2) {
      if (fwd.synWscale === -3 || rev.synWscale === -3) fwd.wscale = rev.wscale = -1;
      else if (fwd.synWscale >= 0 && rev.synWscale >= 0) {
        fwd.wscale = fwd.synWscale;
        rev.wscale = rev.synWscale;
      } else fwd.wscale = rev.wscale = 0;
      if (rev.win >= 0) rev.winBytes = rev.win * 2 ** Math.max(0, rev.wscale);
    }
  }
}

function addHole(h: Half, start: number, end: number): void {
  const holes = (h.holes ??= []);
  if (holes.length >= MAX_HOLES * 2) holes.splice(0, 2);
  holes.push(start, end);
}

/** Remove [s, e) from the holes; true when it filled (part of) one. */
function fillHole(h: Half, s: number, e: number): boolean {
  const holes = h.holes;
  if (holes === null) return false;
  let hit = false;
  for (let i = 0; i < holes.length; i += 2) {
    const hs = holes[i], he = holes[i + 1];
    if (!(lt(s, he) && gt(e, hs))) continue;
    hit = true;
    const keep: number[] = [];
    if (lt(hs, s)) keep.push(hs, s);
    if (gt(he, e)) keep.push(e, he);
    holes.splice(i, 2, ...keep);
    i += keep.length - 2;
  }
  if (holes.length === 0) h.holes = null;
  return hit;
}

/** Holes the receiver acknowledged without a retransmission through us were capture drops: forget them. */
function ackHoles(h: Half, ack: number): void {
  const holes = h.holes!;
  for (let i = 0; i < holes.length; ) {
    if (le(holes[i + 1], ack)) holes.splice(i, 2);
    else i += 2;
  }
  if (holes.length === 0) h.holes = null;
}
