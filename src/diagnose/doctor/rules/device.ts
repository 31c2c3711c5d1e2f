// Queues below IP: qdiscs (QDISC_DROP & co, tc's drop counters), the NIC
// (rx_dropped/rx_missed/rx_fifo, driver counters) and the per-CPU input
// backlog (CPU_BACKLOG, softnet_stat "dropped", netdev_max_backlog).
import type { Rule, Ctx } from '../context.js';
import { inNs, shq, type Evidence, type Finding } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, splitBy } from './common.js';
import type { QdiscInfo } from '../../counters/parse.js';
import { groupBy } from '../../util/group.js';

const QDISC_REASONS = new Set(['QDISC_DROP', 'QDISC_OVERLIMIT', 'QDISC_CONGESTED', 'CAKE_FLOOD', 'FQ_BAND_LIMIT', 'FQ_HORIZON_LIMIT', 'FQ_FLOW_LIMIT', 'DUALPI2_STEP_DROP', 'TC_EGRESS', 'TC_INGRESS']);

/** A netem qdisc with a loss option drops on purpose: emulated path loss, not an overflow. */
function netemLoss(q: QdiscInfo): string | undefined {
  if (q.kind !== 'netem') return undefined;
  const s = JSON.stringify(q.options);
  const m = /"loss[^"]*":\{[^}]*"loss":([0-9.e-]+)/.exec(s) ?? /"loss":([0-9.e-]+)/.exec(s);
  return m && Number(m[1]) > 0 ? `${Math.round(Number(m[1]) * 10000) / 100}%` : undefined;
}

function qdiscEvidence(q: QdiscInfo): Evidence {
  return {
    kind: 'qdisc', name: `${q.kind} ${q.handle} on ${q.dev}${q.root ? ' (root)' : ''}`,
    value: `${q.limit !== undefined ? `limit ${q.limit}, ` : ''}backlog ${q.backlog} bytes / ${q.qlen} packets now`,
    detail: JSON.stringify(q.options).slice(0, 200),
  };
}

export const qdiscOverflow: Rule = {
  id: 'qdisc-overflow',
  async run(ctx) {
    const groups = ctx.drops((g) => QDISC_REASONS.has(g.reason) && g.reason !== 'TC_EGRESS' && g.reason !== 'TC_INGRESS');
    const handled = new Set<string>();
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.direction === 'ingress' ? g.iif : g.oif}`, 8)) {
      const netns = part[0].netns;
      const dev = part[0].direction === 'ingress' ? part[0].iif : part[0].oif;
      handled.add(`${netns}|${dev}`);
      emit(ctx, netns, dev, part);
    }
    // Counter-only: qdisc drops no traced drop explains.
    for (const c of ctx.counters(undefined, ['qdisc.drops']).filter((c) => c.delta > 0 && !handled.has(`${c.netns}|${c.iface}`))) {
      handled.add(`${c.netns}|${c.iface}`);
      emit(ctx, c.netns, c.iface, []);
    }
  },
};

function emit(ctx: Ctx, netns: number, dev: string | undefined, part: Parameters<typeof addDropFinding>[1]): void {
  const qs = (ctx.d.qdiscs.get(netns) ?? []).filter((q) => q.dev === dev);
  const cs = ctx.counters(netns, ['qdisc.drops', 'qdisc.overlimits', 'qdisc.requeues', 'dev.tx_dropped', 'TcpExt.TCPRetransFail', 'TcpExt.TCPSpuriousRtxHostQueues']).filter((c) => !c.iface || c.iface === dev);
  // A qdisc drop is also an ENOBUFS for the sender: Udp SndbufErrors and Ip OutDiscards echo it.
  ctx.claimCounters(ctx.counters(netns, ['Udp.SndbufErrors', 'Udp6.SndbufErrors', 'Ip.OutDiscards', 'Ip6.OutDiscards']));
  ctx.claimCounters(cs);
  const lost = cs.filter((c) => c.name === 'qdisc.drops').reduce((s, c) => s + c.delta, 0);
  const loss = qs.map(netemLoss).find(Boolean);
  const dropping = qs.filter((q) => cs.some((c) => c.name === 'qdisc.drops' && c.qdisc === `${q.kind} ${q.handle}` && c.delta > 0));
  const q = dropping[0] ?? qs.find((x) => x.root) ?? qs[0];
  const p = inNs(ctx.ns(netns));
  const common = {
    evidence: [...dropEvidence(ctx, part), ...counterEvidence(ctx, cs), ...(dropping.length ? dropping : qs).slice(0, 3).map(qdiscEvidence)],
    check: [`${p}tc -s -d qdisc show${dev ? ` dev ${shq(dev)}` : ''}`],
    lost,
  };
  let f: Finding;
  if (loss) {
    f = addDropFinding(ctx, part, {
      ...common,
      cause: 'path-loss',
      summary: (r) => `emulated loss: netem on ${dev} drops ${loss} of packets on purpose — ${n(Math.max(r.total, lost))} packets${floodPhrase(r)}`,
      explanation: 'A netem qdisc with a loss parameter is configured on this interface: it discards packets at random to emulate a lossy path (tests, chaos experiments).',
      fix: [{ change: `${p}tc qdisc del dev ${shq(dev ?? '<dev>')} ${q?.root ? 'root' : `parent ${q?.parent ?? '<parent>'}`}`, caveat: 'only if the emulation is no longer wanted' }],
      confidence: 'high',
    });
  } else {
    f = addDropFinding(ctx, part, {
      ...common,
      cause: 'qdisc-overflow',
      summary: (r) => `queue on ${dev ?? 'an interface'}${q ? ` (${q.kind} ${q.handle}${q.limit !== undefined ? `, limit ${q.limit}` : ''})` : ''} overflowed: ${n(Math.max(r.total, lost))} packets dropped${floodPhrase(r)}`,
      explanation: 'Packets are queued in the interface\'s queueing discipline until the device (or a shaper\'s rate) lets them go. Senders faster than that fill the queue; beyond its limit (or a policer/AQM decision) the qdisc drops (QDISC_DROP, tc "dropped").',
      fix: [
        { change: `${p}tc qdisc change dev ${shq(dev ?? '<dev>')} ${q?.root ? 'root' : `parent ${q?.parent ?? '<parent>'}`} ${q?.kind ?? '<kind>'} limit <larger> …`, caveat: 'longer queues add latency (bufferbloat); fq_codel/cake keep latency low under load' },
        { change: 'raise the shaper rate, or pace the sender (TCP pacing, application rate limits)', caveat: 'only if the link really has the capacity' },
      ],
      confidence: part.length || lost ? 'high' : 'medium',
    });
  }
  if (part.length === 0) {
    f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, direction: 'egress', path: 'local-out' };
    f.flows = 0;
  }
}

const NIC = ['dev.rx_dropped', 'dev.rx_fifo_errors', 'dev.rx_errors', 'dev.tx_errors', 'dev.tx_fifo_errors', 'dev.tx_carrier_errors'];

export const nicDrops: Rule = {
  id: 'nic-rx-drops',
  async run(ctx) {
    const cs = [...ctx.counters(undefined, NIC), ...ctx.counters(undefined, /^ethtool\./)].filter((c) => c.delta > 0);
    const byIf = groupBy(cs, (c) => `${c.netns}|${c.iface}`);
    const groups = ctx.drops((g) => g.reason === 'FULL_RING' || g.reason === 'DEV_READY' || g.reason === 'DEV_HDR' || g.reason === 'NO_TX_TARGET');
    for (const [k, list] of byIf) {
      const [ns, dev] = [Number(k.split('|')[0]), k.slice(k.indexOf('|') + 1)];
      ctx.claimCounters(list);
      const part = groups.filter((g) => g.netns === ns && (g.iif === dev || g.oif === dev));
      const lost = list.filter((c) => c.info.loss && c.name !== 'dev.rx_errors').reduce((s, c) => s + c.delta, 0) || list.reduce((s, c) => Math.max(s, c.delta), 0);
      const p = inNs(ctx.ns(ns));
      const f = addDropFinding(ctx, part, {
        cause: 'nic-rx-drops',
        summary: () => `interface ${dev} dropped ${n(lost)} packets below the IP stack (${list.slice(0, 3).map((c) => c.name.replace(/^(dev|ethtool)\./, '')).join(', ')})`,
        explanation: 'The interface or its driver dropped packets before the IP stack saw them: a receive ring that was full when packets arrived (rx_missed/rx_fifo: the CPU did not drain it fast enough), frames with errors, or packets for a protocol nothing handles. No drop reason exists for most of these; only the counters tell.',
        evidence: [...dropEvidence(ctx, part), ...counterEvidence(ctx, list)],
        check: [`${p}ip -s -s link show ${shq(dev)}`, `${p}ethtool -S ${shq(dev)} | grep -Ei 'drop|miss|fifo|err'`, `${p}ethtool -g ${shq(dev)}   # ring sizes`],
        fix: [
          { change: `${p}ethtool -G ${shq(dev)} rx <larger>   # bigger receive ring`, caveat: 'more memory, a little more latency under load' },
          { change: 'spread receive work: more queues (ethtool -L), RSS/RPS, interrupt affinity; check CPU saturation', caveat: 'none' },
        ],
        confidence: 'medium',
        lost,
      });
      f.flow = { ...(f.flow ?? { netns: ns, netnsName: ctx.ns(ns).name, src: {}, dst: {} }), direction: 'ingress' };
      if (part.length === 0) f.flows = 0;
    }
  },
};

export const cpuBacklog: Rule = {
  id: 'cpu-backlog-overflow',
  async run(ctx) {
    const groups = ctx.drops((g) => g.reason === 'CPU_BACKLOG');
    const cs = ctx.counters(undefined, ['softnet.dropped', 'softnet.flow_limit_count', 'softnet.time_squeeze']);
    const lost = cs.filter((c) => c.name !== 'softnet.time_squeeze').reduce((s, c) => s + c.delta, 0);
    if (groups.length === 0 && (lost === 0 || !ctx.d.hostWideStandalone)) return;
    ctx.claimCounters(cs);
    const self = [...ctx.d.namespaces.values()].find((x) => x.self);
    const netns = groups[0]?.netns ?? cs[0]?.netns ?? self?.inode ?? 0;
    const sys = (await ctx.d.config(netns)?.sysctls()) ?? new Map<string, string>();
    const worst = ctx.d.softnetWorstCpu;
    const f = addDropFinding(ctx, groups, {
      cause: 'cpu-backlog-overflow',
      summary: (r) => `CPU input backlog full: ${n(Math.max(r.total, lost))} packets dropped before protocol processing (host-wide)${worst ? `; CPU ${worst.cpu} dropped the most` : ''}${floodPhrase(r)}`,
      explanation: 'Packets handed to the stack (veth, RPS, netif_rx) wait in a per-CPU backlog of at most net.core.netdev_max_backlog packets. When a CPU cannot process them fast enough (one busy CPU, all traffic steered to it) the backlog overflows (CPU_BACKLOG, softnet_stat "dropped").',
      evidence: [
        ...dropEvidence(ctx, groups), ...counterEvidence(ctx, cs),
        ...configEvidence('net.core.netdev_max_backlog', sys.get('net.core.netdev_max_backlog'), 'packets per CPU backlog (host-wide)'),
        ...configEvidence('net.core.netdev_budget', sys.get('net.core.netdev_budget')),
      ],
      check: ['cat /proc/net/softnet_stat   # column 2 = dropped, per CPU (hex)', 'mpstat -P ALL 1   # one CPU saturated in softirq?'],
      fix: [
        { change: 'sysctl -w net.core.netdev_max_backlog=<larger> (initial namespace)', caveat: 'absorbs bursts; more memory and latency; a CPU that is too slow stays too slow' },
        { change: 'spread packet processing over CPUs (RPS: /sys/class/net/<dev>/queues/rx-*/rps_cpus, more NIC queues, irq affinity)', caveat: 'may reorder packets of different flows across CPUs (not within a flow)' },
      ],
      confidence: 'high',
      lost,
    });
    if (groups.length === 0) {
      f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, direction: 'ingress' };
      f.flows = 0;
    }
  },
};
