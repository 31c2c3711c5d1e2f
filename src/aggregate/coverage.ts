// Per window and network namespace: what the tracer counted vs the kernel's
// own counters (src/platform/procfs-counters.ts) over the same time. The gap
// tells the user how much the tracer could not see (filters, lost events,
// probes that are unavailable on this kernel).

/**
 * The counters droptrace reconciles against, per netns and window, and how
 * each compares with what was traced (in the kernel's unit: segments for
 * the retransmit counters, which add tcp_skb_pcount, occurrences otherwise):
 *  - equal: the same events (a gap is something droptrace could not see);
 *  - at-most: the kernel counts a superset;
 *  - context: related, but counting something else by design.
 */
export const RECONCILED = {
  retransmits: { counters: ['Tcp.RetransSegs'], relation: 'equal' },
  fastRetransmits: { counters: ['TcpExt.TCPFastRetrans'], relation: 'equal' },
  timeoutRetransmits: { counters: ['TcpExt.TCPTimeouts', 'TcpExt.TCPSlowStartRetrans'], relation: 'equal' },
  lossProbes: { counters: ['TcpExt.TCPLossProbes'], relation: 'at-most' },
  outOfOrder: { counters: ['TcpExt.TCPOFOQueue'], relation: 'context' },
} as const;

export type ReconciledSignal = keyof typeof RECONCILED;

/** Why traced and kernel figures differ, in words (shown when they do). */
const GAP_NOTES: Record<ReconciledSignal, { under: string; over: string }> = {
  retransmits: {
    under: 'retransmitted segments the tracer did not see: probe firings the kernel skipped (stats kernel_missed), firings the kernel ran no BPF program for (seen on 6.18 in softirq context, not counted as missed), lost events, sockets outside the filters, or a window boundary between the retransmit and the counter update',
    over: 'traced more than counted: a window boundary fell between a retransmit and its counter update',
  },
  fastRetransmits: {
    under: 'fewer fast retransmits traced than the kernel counted: some were classified unknown, or skipped/filtered (see retransmits)',
    over: 'more traced as fast than counted: a window boundary, or a retransmit outside Loss not made by tcp_xmit_retransmit_queue',
  },
  timeoutRetransmits: {
    under: 'TCPTimeouts also counts SYN and SYN-ACK timeouts (traced as syn/synack), and timeouts that found nothing to resend',
    over: 'more traced as rto than counted: a window boundary between a retransmit and its counter update',
  },
  lossProbes: {
    under: 'TCPLossProbes also counts loss probes that sent new data; without fentry/kprobe only probes that retransmit are traced',
    over: 'more loss probes traced than the kernel counted: a window boundary between a probe and its counter update',
  },
  outOfOrder: {
    under: 'TCPOFOQueue counts every segment queued out of order; droptrace counts the holes (new gaps) the queue reveals',
    over: 'TCPOFOQueue counts segments queued out of order; droptrace counts holes, which may outnumber queued segments after coalescing',
  },
};

export interface CoverageRow {
  /** Signal in snake_case (record field name): retransmits, fast_retransmits, timeout_retransmits, loss_probes, out_of_order. */
  signal: string;
  /** Counter name(s) summed, joined with '+'. */
  counter: string;
  relation: 'equal' | 'at-most' | 'context';
  kernel: number;
  traced: number;
  /** traced / kernel for figures counting the same events, when the kernel counted something. */
  coverage: number | null;
  /** Why they differ, when they do. */
  note?: string;
}

/** Deltas between two snapshots, compared with what the tracer counted. */
export function coverage(before: Map<string, number>, after: Map<string, number>, traced: Partial<Record<ReconciledSignal, number>>): CoverageRow[] {
  return (Object.keys(RECONCILED) as ReconciledSignal[]).map((k) => {
    const { counters, relation } = RECONCILED[k];
    const delta = counters.reduce((s, name) => s + Math.max(0, (after.get(name) ?? 0) - (before.get(name) ?? 0)), 0);
    const t = traced[k] ?? 0;
    const signal = k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
    const row: CoverageRow = { signal, counter: counters.join('+'), relation, kernel: delta, traced: t, coverage: delta > 0 && relation === 'equal' ? Math.round((t / delta) * 1000) / 1000 : null };
    if (t !== delta) row.note = t < delta ? GAP_NOTES[k].under : GAP_NOTES[k].over;
    return row;
  });
}
