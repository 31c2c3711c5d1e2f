// What the analysis counts, per connection and data direction. The
// retransmission family (retransmit, fast, spurious, out-of-order) and
// keep-alives are disjoint: one segment is counted in at most one of them
// (Wireshark flags a fast or spurious retransmission as a retransmission
// too; we do not, so per-flow counts can be summed). The other categories
// are independent counters, each at most once per packet.
//
// `evidence` says which packets carry it: 'data' = segments of the data
// direction itself; 'ack' = packets from the receiver (duplicate ACKs, zero
// windows, SACK blocks), counted for the direction of the data they are
// about, so source → destination is always the data's (the lost packets').

export const CAT = {
  retransmit: 0,
  fastRetransmit: 1,
  spuriousRetransmit: 2,
  outOfOrder: 3,
  lostSegment: 4,
  dupAck: 5,
  zeroWindow: 6,
  windowFull: 7,
  keepAlive: 8,
  zeroWindowProbe: 9,
  sack: 10,
  dsack: 11,
  ackedUnseen: 12,
} as const;
export type Category = (typeof CAT)[keyof typeof CAT];
export const CATEGORY_COUNT = 13;

export interface CategoryInfo {
  action: string;
  /** The Wireshark flag this follows (tcp.analysis.<flag>), or our own name. */
  flag: string;
  evidence: 'data' | 'ack';
  /** Counted as loss (retransmission family and lost segments). */
  loss: boolean;
}

export const CATEGORIES: readonly CategoryInfo[] = [
  { action: 'tcp-retransmit', flag: 'retransmission', evidence: 'data', loss: true },
  { action: 'tcp-fast-retransmit', flag: 'fast_retransmission', evidence: 'data', loss: true },
  { action: 'tcp-spurious-retransmit', flag: 'spurious_retransmission', evidence: 'data', loss: false },
  { action: 'tcp-out-of-order', flag: 'out_of_order', evidence: 'data', loss: true },
  { action: 'tcp-lost-segment', flag: 'lost_segment', evidence: 'data', loss: true },
  { action: 'tcp-dup-ack', flag: 'duplicate_ack', evidence: 'ack', loss: false },
  { action: 'tcp-zero-window', flag: 'zero_window', evidence: 'ack', loss: false },
  { action: 'tcp-window-full', flag: 'window_full', evidence: 'data', loss: false },
  { action: 'tcp-keep-alive', flag: 'keep_alive', evidence: 'data', loss: false },
  { action: 'tcp-zero-window-probe', flag: 'zero_window_probe', evidence: 'data', loss: false },
  { action: 'tcp-sack', flag: 'sack', evidence: 'ack', loss: false },
  { action: 'tcp-dsack', flag: 'dsack', evidence: 'ack', loss: false },
  { action: 'tcp-acked-unseen', flag: 'ack_lost_segment', evidence: 'ack', loss: false },
];

/**
 * Where, relative to the capture point, the loss happened:
 *  upstream   the capture never saw the original (a hole in the sequence
 *             space that a later retransmission filled): lost between the
 *             sender and the capture point (or dropped by the capture itself,
 *             which `tcp-acked-unseen` then shows: the receiver got it);
 *  downstream the original passed the capture point, so it (or its ACK) was
 *             lost between the capture point and the receiver;
 *  none       not a loss (spurious retransmission of acknowledged data) or
 *             not a per-segment signal.
 */
export const SIDE = { none: 0, upstream: 1, downstream: 2 } as const;
export type Side = (typeof SIDE)[keyof typeof SIDE];
export const SIDE_NAMES = ['none', 'upstream', 'downstream'] as const;
