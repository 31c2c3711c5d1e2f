// Routing-level causes: the reverse-path filter, no route, neighbour
// (ARP/NDP) resolution failures, fragmentation/MTU trouble.
import type { Rule, Ctx } from '../context.js';
import type { DropGroup } from '../observe.js';
import { inNs, shq, type Evidence } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, splitBy } from './common.js';

const RP_MODES: Record<string, string> = { '0': 'off', '1': 'strict', '2': 'loose' };

export const reversePath: Rule = {
  id: 'reverse-path-filter',
  async run(ctx) {
    const groups = ctx.drops((g) => g.reason === 'IP_RPFILTER');
    const handled = new Set<number>();
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.iif ?? ''}|${g.src.ip}`, 6)) {
      const netns = part[0].netns;
      handled.add(netns);
      const iif = part[0].iif;
      const sys = (await ctx.d.config(netns)?.sysctls()) ?? new Map<string, string>();
      const all = sys.get('net.ipv4.conf.all.rp_filter');
      const dev = iif ? sys.get(`net.ipv4.conf.${iif}.rp_filter`) : undefined;
      // The kernel uses the larger of conf.all and conf.<dev>.
      const eff = all !== undefined && dev !== undefined ? String(Math.max(Number(all), Number(dev))) : all ?? dev;
      const cs = ctx.counters(netns, ['TcpExt.IPReversePathFilter']);
      ctx.claimCounters(cs);
      const src = part[0].src.ip;
      const route = src ? await ctx.d.config(netns)?.route(src) : undefined;
      const p = inNs(ctx.ns(netns));
      addDropFinding(ctx, part, {
        cause: 'reverse-path-filter',
        summary: (r) => `reverse-path filter (${RP_MODES[eff ?? ''] ?? 'mode ' + eff}) dropped ${n(r.total)} packets from ${src ?? 'several sources'} arriving on ${iif ?? 'an interface'}: replies to that source would leave through another interface${floodPhrase(r)}`,
        explanation: 'With rp_filter=1 (strict) the kernel drops a packet whose source address it would not route back out of the interface the packet came in on (anti-spoofing, RFC 3704). Asymmetric routing, multihoming, policy routing or a missing route for the source trigger it; loose mode (2) only requires some route back.',
        evidence: [
          ...dropEvidence(ctx, part), ...counterEvidence(ctx, cs),
          ...configEvidence('net.ipv4.conf.all.rp_filter', all),
          ...(iif ? configEvidence(`net.ipv4.conf.${iif}.rp_filter`, dev, 'effective value = max(all, interface)') : []),
          ...(route ? [{ kind: 'route' as const, name: `route back to ${src}`, value: route.text, detail: route.ok ? `replies would leave via this route, not ${iif ?? 'the input interface'}` : 'no route back at all' }] : []),
        ],
        check: [`${p}ip route get ${src ?? '<source>'}${iif ? ` from ${part[0].dst.ip ?? '<destination>'} iif ${shq(iif)}` : ''}`, `${p}sysctl net.ipv4.conf.all.rp_filter${iif ? ` net.ipv4.conf.${shq(iif)}.rp_filter` : ''}`],
        fix: [
          { change: `route ${src ?? 'the source'} back through ${iif ?? 'the input interface'} (fix the asymmetric route)`, caveat: 'none: strict rp_filter then passes it' },
          { change: `${p}sysctl -w net.ipv4.conf.all.rp_filter=2${iif ? ` net.ipv4.conf.${shq(iif)}.rp_filter=2` : ''}   # loose mode`, caveat: 'weaker protection against spoofed source addresses' },
        ],
        confidence: 'high',
      });
    }
    for (const c of ctx.counters(undefined, ['TcpExt.IPReversePathFilter']).filter((c) => c.delta > 0 && !handled.has(c.netns))) counterOnly(ctx, c.netns, 'reverse-path-filter', ['TcpExt.IPReversePathFilter'], 'packets dropped by the reverse-path filter (none traced: filtered out or not seen)');
  },
};

function counterOnly(ctx: Ctx, netns: number, cause: string, names: string[], what: string): void {
  const cs = ctx.counters(netns, names);
  if (cs.every((c) => c.delta === 0)) return;
  ctx.claimCounters(cs);
  const lost = cs.reduce((s, c) => s + c.delta, 0);
  const f = addDropFinding(ctx, [], {
    cause, summary: () => `${n(lost)} ${what}`,
    explanation: 'Only the kernel\'s counters saw these losses: no traced drop matched them (they may carry no drop reason, or the filters excluded them).',
    evidence: counterEvidence(ctx, cs), check: [`${inNs(ctx.ns(netns))}nstat -az ${names.map((x) => x.replace('.', '')).join(' ')}`], fix: [], confidence: 'medium', lost,
  });
  f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
  f.flows = 0;
}

const NOROUTE = new Set(['IP_INNOROUTES', 'IP_OUTNOROUTES']);
const NOROUTE_COUNTERS = ['Ip.OutNoRoutes', 'IpExt.InNoRoutes', 'Ip6.InNoRoutes', 'Ip6.OutNoRoutes'];

export const noRoute: Rule = {
  id: 'no-route',
  async run(ctx) {
    const groups = ctx.drops((g) => NOROUTE.has(g.reason));
    const handled = new Set<number>();
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.dst.ip}`, 6)) {
      const netns = part[0].netns;
      handled.add(netns);
      const dst = part[0].dst.ip;
      const cs = ctx.counters(netns, [...NOROUTE_COUNTERS, 'Icmp.OutDestUnreachs', 'Icmp6.OutDestUnreachs']);
      ctx.claimCounters(cs);
      const route = dst ? await ctx.d.config(netns)?.route(dst) : undefined;
      const p = inNs(ctx.ns(netns));
      const fwd = part[0].path === 'forward' || part[0].reason === 'IP_INNOROUTES';
      addDropFinding(ctx, part, {
        cause: 'no-route',
        summary: (r) => `no route to ${dst ?? 'the destination'}${fwd ? ' for forwarded packets' : ''}: ${n(r.total)} packets dropped${floodPhrase(r)}`,
        explanation: fwd
          ? 'A packet arrived to be forwarded (or delivered) but the routing table has no route for its destination, so the kernel dropped it and answered with ICMP destination unreachable.'
          : 'A locally sent packet had no route to its destination (no matching route, no default route, or an unreachable/prohibit route).',
        evidence: [...dropEvidence(ctx, part), ...counterEvidence(ctx, cs), ...(route ? [{ kind: 'route' as const, name: `ip route get ${dst}`, value: route.text }] : [])],
        check: [`${p}ip route get ${dst ?? '<destination>'}`, `${p}ip route show table all`],
        fix: [{ change: `${p}ip route add <prefix of ${dst ?? 'the destination'}> via <gateway>   (or a default route)`, caveat: 'make sure the gateway can reach it, or the loss moves one hop on' }],
        confidence: 'high',
      });
    }
    const nss = new Set(ctx.counters(undefined, NOROUTE_COUNTERS).filter((c) => c.delta > 0 && !handled.has(c.netns)).map((c) => c.netns));
    for (const netns of nss) counterOnly(ctx, netns, 'no-route', NOROUTE_COUNTERS, 'packets had no route (no drop traced: a local send that failed before a packet existed returns ENETUNREACH)');
  },
};

const NEIGH = new Set(['NEIGH_FAILED', 'NEIGH_QUEUEFULL', 'NEIGH_CREATEFAIL', 'NEIGH_DEAD', 'NEIGH_HH_FILLFAIL']);

export const neighbour: Rule = {
  id: 'neighbour-failure',
  async run(ctx) {
    const groups = ctx.drops((g) => NEIGH.has(g.reason));
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.dst.ip}|${g.oif ?? ''}`, 6)) {
      const netns = part[0].netns;
      const dst = part[0].dst.ip;
      const cfg = ctx.d.config(netns);
      const route = dst ? await cfg?.route(dst) : undefined;
      const via = route?.text.match(/ via (\S+)/)?.[1];
      const dev = route?.text.match(/ dev (\S+)/)?.[1] ?? part[0].oif;
      const hop = via ?? dst;
      const neigh = (await cfg?.neighbours())?.find((x) => x.dst === hop);
      const sys = (await cfg?.sysctls()) ?? new Map<string, string>();
      const reasons = new Set(part.map((g) => g.reason));
      const p = inNs(ctx.ns(netns));
      // The neighbour tables are host-wide: their discard counters cover every namespace.
      const family = part[0].l3 === 'ipv6' ? 'ndisc_cache' : 'arp_cache';
      const cs = ctx.counters(undefined, [`neigh.${family}.unresolved_discards`, `neigh.${family}.table_fulls`, `neigh.${family}.res_failed`], true);
      ctx.claimCounters(cs);
      const evidence: Evidence[] = [
        ...dropEvidence(ctx, part),
        ...counterEvidence(ctx, cs).map((e) => ({ ...e, detail: `${e.detail} (host-wide)` })),
        ...(route ? [{ kind: 'route' as const, name: `ip route get ${dst}`, value: route.text }] : []),
        ...(neigh ? [{ kind: 'neighbour' as const, name: `neighbour ${hop}${neigh.dev ? ` dev ${neigh.dev}` : ''}`, value: neigh.state.join(',') || 'unknown', detail: neigh.lladdr ? `lladdr ${neigh.lladdr}` : 'no link-layer address learned' }] : hop ? [{ kind: 'neighbour' as const, name: `neighbour ${hop}`, value: 'no entry now', detail: 'resolution failed and the entry was removed, or never created' }] : []),
        ...(dev ? configEvidence(`net.ipv4.neigh.${dev}.unres_qlen_bytes`, sys.get(`net.ipv4.neigh.${dev}.unres_qlen_bytes`), 'bytes queued per unresolved neighbour before dropping (NEIGH_QUEUEFULL)') : []),
        ...(reasons.has('NEIGH_CREATEFAIL') ? configEvidence('net.ipv4.neigh.default.gc_thresh3', sys.get('net.ipv4.neigh.default.gc_thresh3'), 'hard limit of the neighbour table') : []),
      ];
      addDropFinding(ctx, part, {
        cause: 'neighbour-failure',
        summary: (r) => `next hop ${hop ?? '?'}${dev ? ` on ${dev}` : ''} does not answer ARP/neighbour discovery${neigh ? ` (state ${neigh.state.join(',')})` : ''}: ${n(r.total)} packets to ${dst ?? 'it'} dropped${floodPhrase(r)}`,
        explanation: reasons.has('NEIGH_CREATEFAIL')
          ? 'The neighbour table is full (gc_thresh3): no entry could be created for the next hop, so packets to it are dropped.'
          : 'Before sending on a link the kernel must learn the next hop\'s link-layer address (ARP for IPv4, neighbour discovery for IPv6). Packets wait in a small queue meanwhile (NEIGH_QUEUEFULL when it overflows) and are dropped when resolution fails (NEIGH_FAILED): the next hop is down, on another segment/VLAN, or filtering ARP.',
        evidence,
        check: [`${p}ip neigh show ${hop ?? ''}`.trim(), `${p}ip route get ${dst ?? '<destination>'}`, ...(dev && hop ? [`${p}arping -I ${shq(dev)} -c 3 ${hop}`] : [])],
        fix: reasons.has('NEIGH_CREATEFAIL')
          ? [{ change: `${p}sysctl -w net.ipv4.neigh.default.gc_thresh3=<larger> (and gc_thresh2)`, caveat: 'more memory for neighbour entries; a huge L2 domain may be the real problem' }]
          : [{ change: `bring up / reconnect ${hop ?? 'the next hop'}, or fix the route/subnet so the next hop is on ${dev ?? 'that link'}`, caveat: 'none' }, { change: 'if bursts overflow the resolution queue: raise unres_qlen_bytes', caveat: 'only helps if resolution eventually succeeds' }],
        confidence: 'high',
      });
    }
  },
};

const FRAG = new Set(['FRAG_REASM_TIMEOUT', 'FRAG_TOO_FAR', 'DUP_FRAG', 'PKT_TOO_BIG', 'IP_FRAG_TOO_FAR']);
const FRAG_COUNTERS = ['Ip.ReasmFails', 'Ip.ReasmTimeout', 'Ip.FragFails', 'IpExt.ReasmOverlaps', 'Ip6.ReasmFails', 'Ip6.FragFails', 'Ip6.InTooBigErrors'];

export const mtu: Rule = {
  id: 'mtu-fragmentation',
  async run(ctx) {
    const groups = ctx.drops((g) => FRAG.has(g.reason));
    const nss = new Set([...groups.map((g) => g.netns), ...ctx.counters(undefined, FRAG_COUNTERS).filter((c) => c.delta > 0).map((c) => c.netns)]);
    for (const netns of nss) {
      const part = groups.filter((g) => g.netns === netns);
      const cs = ctx.counters(netns, FRAG_COUNTERS);
      ctx.claimCounters(cs);
      const lost = cs.reduce((s, c) => s + c.delta, 0);
      const p = inNs(ctx.ns(netns));
      const f = addDropFinding(ctx, part, {
        cause: 'mtu-fragmentation',
        summary: (r) => `fragmentation/MTU trouble: ${n(Math.max(r.total, lost))} packets lost to failed reassembly or packets too big for the path${floodPhrase(r)}`,
        explanation: 'Packets larger than a link\'s MTU are fragmented (IPv4 without DF) or refused with "packet too big"/"fragmentation needed". Lost fragments make whole datagrams fail reassembly; blocked ICMP breaks path-MTU discovery so big packets vanish (a PMTU black hole).',
        evidence: [...dropEvidence(ctx, part), ...counterEvidence(ctx, cs)],
        check: [`${p}ip link show   # MTUs`, `${p}ip route get <destination>   # cached PMTU`, 'ping -M do -s <size> <destination>   # largest size that passes'],
        fix: [
          { change: 'make MTUs agree along the path, or clamp TCP MSS at the tunnel/bridge (nft … tcp flags syn tcp option maxseg size set rt mtu)', caveat: 'clamping only helps TCP' },
          { change: 'allow ICMP fragmentation-needed / packet-too-big through firewalls', caveat: 'none: blocking them breaks PMTU discovery' },
        ],
        confidence: part.length ? 'high' : 'medium',
        lost,
      });
      if (part.length === 0) {
        f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
        f.flows = 0;
      }
    }
  },
};

export type { DropGroup };
