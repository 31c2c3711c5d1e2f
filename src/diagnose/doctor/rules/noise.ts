// Expected drops that hide real causes in a short diagnosis: multicast and
// broadcast nobody listens to (router solicitations, MLD, mDNS, SSDP, ...),
// frames for another host on a shared segment, neighbour-discovery packets
// the kernel rejects by design, IPv6 on an interface with IPv6 disabled.
// Claimed early, reported last as one collapsed finding.
import type { Rule } from '../context.js';
import type { DropGroup } from '../observe.js';
import { ipToBig } from '../../../decode/address.js';
import { n, dropEvidence, rollup } from './common.js';
import type { Finding } from '../finding.js';

export function isMulticastOrBroadcast(ip: string | undefined): boolean {
  if (!ip) return false;
  if (ip === '255.255.255.255') return true;
  const b = ipToBig(ip);
  if (!b) return false;
  if (b.bits === 32) return b.v >> 28n === 0xen; // 224.0.0.0/4
  return b.v >> 120n === 0xffn; // ff00::/8
}

/** Link-local scope multicast (224.0.0.0/24, ff02::/16): neighbour discovery, MLD, router solicitations, mDNS. */
export function isLinkLocalMulticast(ip: string | undefined): boolean {
  const b = ip ? ipToBig(ip) : undefined;
  if (!b) return false;
  return b.bits === 32 ? b.v >> 8n === 0xe00000n : b.v >> 112n === 0xff02n;
}

/** Reasons multicast nobody asked for is dropped with by design. */
const MCAST_REASONS = new Set(['NOT_SPECIFIED', 'NO_SOCKET', 'UNHANDLED_PROTO', 'IP_NOPROTO', 'IP_INNOROUTES', 'IP_INADDRERRORS', 'OTHERHOST']);

const NOISE_REASONS = new Set(['OTHERHOST', 'UNICAST_IN_L2_MULTICAST', 'IPV6DISABLED', 'IPV6_NDISC_FRAG', 'IPV6_NDISC_HOP_LIMIT', 'IPV6_NDISC_BAD_CODE', 'IPV6_NDISC_BAD_OPTIONS', 'IPV6_NDISC_NS_OTHERHOST']);
const MULTICAST_LOCATION = /^(ip6_mc_input|ip_mc_|igmp|mld_|ndisc_|ip6_input_finish|icmpv6_rcv|__udp4_lib_mcast|__udp6_lib_mcast)/;

export function isNoise(g: DropGroup): boolean {
  if (NOISE_REASONS.has(g.reason)) return true;
  // Link-local multicast (an interface coming up sends ND/MLD before any route exists) whatever the reason but a rule's.
  if (isLinkLocalMulticast(g.dst.ip) && g.reason !== 'NETFILTER_DROP') return true;
  if (isMulticastOrBroadcast(g.dst.ip) && MCAST_REASONS.has(g.reason)) return true;
  return g.reason === 'NOT_SPECIFIED' && MULTICAST_LOCATION.test(g.symbol ?? '');
}

/** NOT_SPECIFIED drops this rare at one place are the stack's housekeeping (a segment racing a socket's close, ...). */
const STRAY = 3;

export const noise: Rule = {
  id: 'noise',
  async run(ctx) {
    const stray = new Map<string, number>();
    for (const g of ctx.drops((g) => g.reason === 'NOT_SPECIFIED')) stray.set(`${g.netns}|${g.location}`, (stray.get(`${g.netns}|${g.location}`) ?? 0) + g.count);
    const groups = ctx.drops((g) => isNoise(g) || (g.reason === 'NOT_SPECIFIED' && (stray.get(`${g.netns}|${g.location}`) ?? 0) < STRAY));
    if (groups.length === 0) return;
    const r = rollup(ctx, groups);
    ctx.claim(groups);
    const f: Finding = {
      cause: 'noise', severity: 'info', impact: r.total / ctx.seconds, lost: r.total,
      summary: `${n(r.total)} expected drops (multicast/broadcast nobody listens to, frames for other hosts, neighbour discovery, stray unclassified drops) in ${new Set(groups.map((g) => g.netns)).size} namespaces — not a problem`,
      explanation: 'Every namespace receives some multicast (IPv6 router solicitations, MLD reports, mDNS) and broadcast it has no listener for; the kernel drops it by design (often as NOT_SPECIFIED at ip6_mc_input). Collapsed here so it does not hide real causes.',
      evidence: dropEvidence(ctx, groups, 6), check: [], fix: [], confidence: 'high',
      flows: r.flows, reasons: r.reasons, noise: true,
    };
    ctx.add(f);
  },
};
