// One direction of a TCP connection, as its sender behaves at the capture
// point: the fields Wireshark's sequence analysis keeps per flow
// (next expected sequence, last ACK and window, duplicate-ACK run), plus the
// sequence holes we saw (to tell upstream from downstream loss) and an RTT
// estimate. Plain numbers only, so a state file can carry it.

export const SEG_KEEPALIVE = 1;
export const SEG_ZWP = 2;
/** Holes remembered per direction; older ones are forgotten (their fills count as downstream). */
export const MAX_HOLES = 16;

export class Half {
  /** Next expected sequence number (highest seq + len seen). */
  nextseq = 0;
  nextKnown = false;
  /** Capture time (µs) nextseq last advanced. */
  nextTime = 0;
  /** Highest contiguous sequence seen (Wireshark's maxseqtobeacked). */
  maxseq = 0;
  maxKnown = false;
  /** Last ACK this side sent, its time, and the raw window that came with it (-1 unknown). */
  lastack = 0;
  ackKnown = false;
  lastackTime = 0;
  win = -1;
  /** The same window in bytes (scaled), -1 while the scale is unknown. */
  winBytes = -1;
  /** Window scale shift in effect for this side's windows: -1 unknown. */
  wscale = -1;
  /** From this side's SYN: -2 no SYN seen, -1 SYN without the option, -3 options not captured, else the shift. */
  synWscale = -2;
  isn = 0;
  sawSyn = false;
  /** Consecutive duplicate ACKs this side sent. */
  dupacks = 0;
  /** SEG_* bits of this side's last packet. */
  lastSeg = 0;
  /** Sequence ranges [start, end) never seen at the capture point (flat pairs). */
  holes: number[] | null = null;
  /** RTT: one timed segment at a time (Karn: a retransmission cancels it). */
  rttEnd = 0;
  rttStart = -1;
  rttN = 0;
  rttSumUs = 0;
  rttMinUs = 0;
  rttMaxUs = 0;
  /** Packets and payload bytes of this direction in the current output window. */
  periodIdx = -1;
  periodPackets = 0;
  packets = 0;
  fin = false;
  rst = false;
  /** Capture direction hint of its first packet (0 unknown, 1 inbound, 2 outbound). */
  dirHint = 0;

  rttSample(us: number): void {
    if (this.rttN === 0 || us < this.rttMinUs) this.rttMinUs = us;
    if (us > this.rttMaxUs) this.rttMaxUs = us;
    this.rttSumUs += us;
    this.rttN++;
  }
}

const FIELDS = [
  'nextseq', 'nextKnown', 'nextTime', 'maxseq', 'maxKnown', 'lastack', 'ackKnown', 'lastackTime', 'win', 'winBytes', 'wscale', 'synWscale',
  'isn', 'sawSyn', 'dupacks', 'lastSeg', 'rttEnd', 'rttStart', 'rttN', 'rttSumUs', 'rttMinUs', 'rttMaxUs', 'packets', 'fin', 'rst', 'dirHint',
] as const;

/** A compact array for the state file (booleans as 0/1). */
export function halfToArray(h: Half): Array<number | number[] | null> {
  const out: Array<number | number[] | null> = FIELDS.map((f) => Number(h[f]));
  out.push(h.holes);
  return out;
}

export function halfFromArray(a: unknown): Half | null {
  if (!Array.isArray(a) || a.length !== FIELDS.length + 1) return null;
  const h = new Half();
  const rec = h as unknown as Record<string, number | boolean>;
  for (let i = 0; i < FIELDS.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    rec[FIELDS[i]] = typeof rec[FIELDS[i]] === 'boolean' ? v !== 0 : v;
  }
  const holes = a[FIELDS.length];
  if (holes !== null) {
    if (!Array.isArray(holes) || holes.length % 2 !== 0 || holes.length > MAX_HOLES * 2 || !holes.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) return null;
    h.holes = holes as number[];
  }
  return h;
}
