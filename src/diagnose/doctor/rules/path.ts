// Loss between hosts, per data direction of a TCP connection, from both ends
// when both are traced: the sender's retransmits and the receiver's view.
//  - The receiver saw holes (segments beyond a gap, then the gap filled):
//    data was lost on the way → path-loss in that direction.
//  - The receiver got the data twice (duplicates, TCP_OLD_DATA drops, D-SACKs)
//    and saw no holes: the data arrived, the sender retransmitted because the
//    ACKs never came back → ack-path-loss (the lost packets are the ACKs, in
//    the other direction).
// Retransmits explained by a drop on this host (same 4-tuple) are symptoms
// of that drop and are left to its finding.
import type { Rule, Ctx } from '../context.js';
import type { DropGroup, TcpGroup, Ep } from '../observe.js';
import { inNs, severityOf, type Evidence, type Finding } from '../finding.js';
import { counterEvidence, n, round, rollup, sum } from './common.js';

const key = (s: Ep, d: Ep) => `${s.ip}|${s.port}>${d.ip}|${d.port}`;
/** Fewer loss events than this on one connection direction in a window is not reported. */
const MIN_EVENTS = 3;
const svc = (e: Ep) => `${e.ip}|${e.port}`;

/** TCP segments rejected for their sequence numbers: what a sender does after its data was dropped. */
const SEQ_ECHO = new Set(['TCP_INVALID_SEQUENCE', 'TCP_INVALID_END_SEQUENCE', 'TCP_OLD_SEQUENCE', 'TCP_OFOMERGE', 'TCP_OVERWINDOW', 'TCP_OFO_DROP', 'TCP_ZEROWINDOW']);

/**
 * Symptoms of a drop another finding already explained: retransmits,
 * incoming loss and out-of-window segments of the same data direction (same
 * connection, or same destination service in the same namespace) belong to
 * that finding. Duplicates and TCP_OLD_DATA are left to the ACK-path check:
 * they point at the reverse direction.
 */
export const tcpEcho: Rule = {
  id: 'tcp-echo',
  async run(ctx) {
    const conns = new Set<string>();
    const services = new Set<string>();
    for (const g of ctx.claimedDropGroups()) {
      if (g.src.ip === undefined || g.dst.ip === undefined) continue;
      conns.add(key(g.src, g.dst));
      services.add(svc(g.dst));
    }
    if (conns.size === 0) return;
    const explained = (s: Ep, d: Ep) => conns.has(key(s, d)) || services.has(svc(d));
    ctx.claim(ctx.tcp((t) => t.action !== 'tcp-incoming-duplicate' && t.type !== 'syn' && explained(t.src, t.dst)));
    ctx.claim(ctx.drops((g) => SEQ_ECHO.has(g.reason) && explained(g.src, g.dst)));
  },
};

interface Dir {
  src: Ep;
  dst: Ep;
  retx: TcpGroup[];
  ooo: TcpGroup[];
  fill: TcpGroup[];
  dup: TcpGroup[];
  oldData: DropGroup[];
  /** Out-of-window segments at the receiver: retransmits of data it had. */
  seqDrops: DropGroup[];
}

export const pathLoss: Rule = {
  id: 'path-loss',
  async run(ctx) {
    const dirs = new Map<string, Dir>();
    const get = (s: Ep, d: Ep) => {
      const k = key(s, d);
      let x = dirs.get(k);
      if (!x) dirs.set(k, (x = { src: s, dst: d, retx: [], ooo: [], fill: [], dup: [], oldData: [], seqDrops: [] }));
      return x;
    };
    for (const g of ctx.tcp((t) => !t.overflow && t.src.ip !== undefined && t.type !== 'synack')) {
      const d = get(g.src, g.dst);
      if (g.action === 'tcp-retransmit' || g.action === 'tcp-loss-probe') d.retx.push(g);
      else if (g.action === 'tcp-incoming-out-of-order') d.ooo.push(g);
      else if (g.action === 'tcp-incoming-retransmit') d.fill.push(g);
      else d.dup.push(g);
    }
    for (const g of ctx.drops((g) => g.reason === 'TCP_OLD_DATA' && g.src.ip !== undefined)) get(g.src, g.dst).oldData.push(g);
    for (const g of ctx.drops((g) => SEQ_ECHO.has(g.reason) && g.src.ip !== undefined)) {
      const d = dirs.get(key(g.src, g.dst));
      if (d) d.seqDrops.push(g);
    }
    for (const d of dirs.values()) {
      const all = [...d.retx, ...d.ooo, ...d.fill, ...d.dup];
      const dup = sum(d.dup) + sum(d.oldData);
      const holes = sum(d.ooo) + sum(d.fill);
      const retx = sum(d.retx);
      // A lone spurious retransmit or reordered segment is normal TCP life, not a finding.
      ctx.claim(d.seqDrops);
      if (Math.max(dup, holes, retx) < MIN_EVENTS) ctx.claim([...all, ...d.oldData]);
      else if (dup > 0 && dup >= holes && (retx === 0 || dup * 3 >= retx)) ackPath(ctx, d, dup, holes, retx);
      else if (retx > 0 || holes > 0) path(ctx, d, retx, holes);
      else ctx.claim([...all, ...d.oldData]);
    }
  },
};

function netnsOf(gs: Array<TcpGroup | DropGroup>): number | undefined {
  return gs[0]?.netns;
}

function ackPath(ctx: Ctx, d: Dir, dup: number, holes: number, retx: number): void {
  const receiverNs = netnsOf([...d.dup, ...d.oldData, ...d.ooo, ...d.fill]);
  const senderNs = netnsOf(d.retx);
  const rcs = receiverNs !== undefined ? ctx.counters(receiverNs, ['TcpExt.DelayedACKLost', 'TcpExt.TCPDSACKOldSent']) : [];
  const scs = senderNs !== undefined ? ctx.counters(senderNs, ['TcpExt.TCPDSACKRecv', 'TcpExt.TCPSpuriousRTOs', 'TcpExt.TCPDSACKRecvSegs']) : [];
  ctx.claimCounters([...rcs, ...scs]);
  // The ACKs for this data go the other way: were they dropped on a traced host?
  const ackDrops = ctx.allDrops((g) => g.src.ip === d.dst.ip && g.src.port === d.dst.port && g.dst.ip === d.src.ip && g.dst.port === d.src.port);
  const netns = receiverNs ?? senderNs!;
  const types = new Map<string, number>();
  for (const g of d.retx) types.set(g.type, (types.get(g.type) ?? 0) + g.count);
  const evidence: Evidence[] = [
    ...(d.dup.length ? [{ kind: 'incoming' as const, name: 'duplicate segments received', value: sum(d.dup), rate: round(sum(d.dup) / ctx.seconds), detail: 'data that had already arrived came again' }] : []),
    ...(d.oldData.length ? [{ kind: 'drops' as const, name: 'TCP_OLD_DATA', value: sum(d.oldData), rate: round(sum(d.oldData) / ctx.seconds), detail: `at ${d.oldData[0].location ?? '?'}: segments entirely before rcv_nxt, already received` }] : []),
    { kind: 'incoming' as const, name: 'holes seen by the receiver', value: holes, detail: 'out-of-order arrivals and hole fills: few or none means the data itself was not lost' },
    ...[...types].map(([t, c]) => ({ kind: 'retransmits' as const, name: `sender retransmits ${t}`, value: c, rate: round(c / ctx.seconds) })),
    ...counterEvidence(ctx, [...rcs, ...scs]),
    ...(ackDrops.length ? [{ kind: 'drops' as const, name: `ACKs dropped on a traced host: ${ackDrops[0].reason}`, value: sum(ackDrops), detail: `in netns ${ackDrops[0].netns} at ${ackDrops[0].location ?? '?'} (see that finding)` }] : []),
  ];
  ctx.claim([...d.retx, ...d.ooo, ...d.fill, ...d.dup, ...d.oldData]);
  const lost = Math.max(retx, dup);
  const impact = lost / ctx.seconds;
  const p = inNs(ctx.ns(senderNs ?? netns));
  const f: Finding = {
    cause: 'ack-path-loss', severity: severityOf(impact), impact, lost,
    summary: `ACKs lost on the way from ${d.dst.ip}:${d.dst.port} back to ${d.src.ip}:${d.src.port}: the data arrived (${n(dup)} duplicates at the receiver, ${n(holes)} holes) but the sender retransmitted it ${n(retx)} times`,
    explanation: 'When a receiver gets segments it already has (TCP_OLD_DATA drops, duplicate arrivals, D-SACKs) while it saw no gaps, the data path works: the sender retransmitted because the receiver\'s ACKs did not reach it. The loss is on the reverse (ACK) path, even though every symptom is counted on the data direction.',
    evidence,
    check: [`${p}ss -tni dst ${d.dst.ip}   # retrans, dsack, rto`, `${inNs(ctx.ns(netns))}nstat -az TcpExtDelayedACKLost TcpExtTCPDSACKOldSent`, `# capture on both ends: ACKs leaving ${d.dst.ip} that never reach ${d.src.ip}`],
    fix: [{ change: `find where packets from ${d.dst.ip} to ${d.src.ip} are lost (firewall allowing only one direction, asymmetric route, a congested or filtered return link)`, caveat: 'fixing the data direction changes nothing' }],
    confidence: d.retx.length && (d.dup.length || d.oldData.length) ? 'high' : 'medium',
    flow: { netns, netnsName: ctx.ns(netns).name, l3: d.dst.ip?.includes(':') ? 'ipv6' : 'ipv4', transport: 'tcp', src: { ...d.dst }, dst: { ...d.src }, direction: 'egress', path: 'local-out' },
    flows: 1, reasons: ['ack-loss'],
  };
  ctx.add(f);
}

function path(ctx: Ctx, d: Dir, retx: number, holes: number): void {
  const senderNs = netnsOf(d.retx);
  const receiverNs = netnsOf([...d.ooo, ...d.fill]);
  const scs = senderNs !== undefined ? ctx.counters(senderNs, ['TcpExt.TCPLostRetransmit', 'TcpExt.TCPTimeouts', 'Tcp.RetransSegs', 'TcpExt.TCPFastRetrans', 'TcpExt.TCPLossProbes', 'TcpExt.TCPSynRetrans', 'TcpExt.TCPSlowStartRetrans', 'TcpExt.TCPAbortOnTimeout']) : [];
  const rcs = receiverNs !== undefined ? ctx.counters(receiverNs, ['TcpExt.TCPOFOQueue']) : [];
  ctx.claimCounters([...scs, ...rcs]);
  const types = new Map<string, number>();
  for (const g of d.retx) types.set(g.type, (types.get(g.type) ?? 0) + g.count);
  const syn = (types.get('syn') ?? 0) > 0 && types.size === 1;
  const netns = senderNs ?? receiverNs!;
  const lost = Math.max(retx, sum(d.fill), Math.ceil(holes / 2));
  const impact = lost / ctx.seconds;
  const r = rollup(ctx, d.retx.length ? d.retx : [...d.ooo, ...d.fill]);
  ctx.claim([...d.retx, ...d.ooo, ...d.fill, ...d.dup, ...d.oldData]);
  const both = d.retx.length > 0 && holes > 0;
  const p = inNs(ctx.ns(netns));
  const f: Finding = {
    cause: 'path-loss', severity: severityOf(impact), impact, lost,
    summary: syn
      ? `SYNs from ${d.src.ip} to ${d.dst.ip}:${d.dst.port} go unanswered: ${n(retx)} retransmitted (the path or the peer drops them, no local drop seen)`
      : `packets lost on the path from ${d.src.ip}:${d.src.port} to ${d.dst.ip}:${d.dst.port}: ${n(retx)} retransmits at the sender${holes ? `, ${n(holes)} out-of-order/hole-fill arrivals at the receiver` : ''}, no local drop on ${both ? 'either host' : 'this host'}`,
    explanation: both
      ? 'The sender retransmitted and the receiver saw segments arrive beyond a gap and the gap filled later: the segments left the sender and were lost before reaching the receiver — between the hosts, not in either kernel (no drop was traced on either).'
      : d.retx.length
        ? 'The sender retransmitted these segments and no drop was traced on this host: they (or their ACKs) were lost beyond it. Trace the receiver too to tell data loss from ACK loss.'
        : 'The receiver saw segments arrive beyond a gap (the gap filled by retransmits later): segments were lost on the way to this host.',
    evidence: [
      ...[...types].map(([t, c]) => ({ kind: 'retransmits' as const, name: `retransmits ${t}`, value: c, rate: round(c / ctx.seconds) })),
      ...(d.ooo.length ? [{ kind: 'incoming' as const, name: 'out-of-order arrivals (beyond a hole)', value: sum(d.ooo), rate: round(sum(d.ooo) / ctx.seconds) }] : []),
      ...(d.fill.length ? [{ kind: 'incoming' as const, name: 'hole-filling retransmits received', value: sum(d.fill), rate: round(sum(d.fill) / ctx.seconds) }] : []),
      ...counterEvidence(ctx, [...scs, ...rcs]),
    ],
    check: [`${p}ss -tni dst ${d.dst.ip}   # retrans, lost, rtt`, `mtr -n ${d.dst.ip}   # per-hop loss`, '# interface error counters on every hop in between (ip -s link, ethtool -S)'],
    fix: [{ change: `find the lossy hop between ${d.src.ip} and ${d.dst.ip} (congested link, faulty NIC/cable, policer, firewall dropping silently)`, caveat: 'nothing to change on this host: its kernel did not drop them' }],
    confidence: both ? 'high' : 'medium',
    flow: { ...r.flow, src: { ...d.src }, dst: { ...d.dst }, netns, netnsName: ctx.ns(netns).name, transport: 'tcp', direction: senderNs !== undefined ? 'egress' : 'ingress', path: senderNs !== undefined ? 'local-out' : 'local-in' },
    flows: 1, reasons: [...types.keys()],
  };
  ctx.add(f);
}
