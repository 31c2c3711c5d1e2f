// What the specific rules left: drops by reason (a table of kernel reasons →
// cause and plain words), loss counters no drop explains, counters storming
// with no better cause, and what the diagnosis could not check.
import type { Rule } from '../context.js';
import { inNs, severityOf, type Finding } from '../finding.js';
import { addDropFinding, counterEvidence, dropEvidence, floodPhrase, n, splitBy } from './common.js';
import { TOOL_PURPOSE, type ToolName } from '../../exec/tools.js';
import type { CounterStat } from '../observe.js';
import { HOST_WIDE } from '../../counters/parse.js';
import { groupBy } from '../../util/group.js';

type R = [cause: string, words: string];

/** Kernel drop reasons (include/net/dropreason-core.h) the specific rules do not cover. */
export const REASONS: Readonly<Record<string, R>> = {
  SOCKET_FILTER: ['socket-filter', 'a socket filter (BPF attached with SO_ATTACH_FILTER, e.g. by a packet capture or the application) rejected the packet'],
  SOCKET_CLOSE: ['unknown', 'the socket was closed with data still queued'],
  XDP: ['xdp-drop', 'an XDP program attached to the interface returned XDP_DROP (or aborted)'],
  TC_INGRESS: ['tc-filter', 'a tc filter/action on ingress (e.g. a BPF or police action) dropped the packet'],
  TC_EGRESS: ['tc-filter', 'a tc filter/action on egress dropped the packet'],
  TC_COOKIE_ERROR: ['tc-filter', 'tc classification failed (cookie error)'],
  TC_CHAIN_NOTFOUND: ['tc-filter', 'a tc action jumped to a chain that does not exist'],
  TC_RECLASSIFY_LOOP: ['tc-filter', 'tc reclassified the packet in a loop'],
  BPF_CGROUP_EGRESS: ['bpf-cgroup', 'a cgroup BPF program (cgroup/skb egress) rejected the packet'],
  SECURITY_HOOK: ['security-policy', 'a security module (SELinux, AppArmor, a BPF LSM) refused the packet'],
  XFRM_POLICY: ['ipsec-policy', 'an IPsec (xfrm) policy required protection the packet did not have'],
  IP_INADDRERRORS: ['invalid-address', 'the destination address is not valid here (not ours and not forwarded)'],
  IP_INVALID_SOURCE: ['invalid-address', 'the source address is invalid (martian: multicast, loopback, zero)'],
  IP_LOCAL_SOURCE: ['invalid-address', 'a packet arrived with one of our own addresses as its source'],
  IP_INVALID_DEST: ['invalid-address', 'the destination address is invalid'],
  IP_LOCALNET: ['invalid-address', 'a 127.0.0.0/8 address arrived on a non-loopback interface (route_localnet off)'],
  IP_INHDR: ['ip-header-error', 'the IP header is malformed (version, length, options)'],
  IP_CSUM: ['checksum-error', 'the IPv4 header checksum is wrong'],
  PKT_TOO_SMALL: ['ip-header-error', 'the packet is shorter than its headers'],
  HDR_TRUNC: ['ip-header-error', 'a header is truncated'],
  IP_NOPROTO: ['unknown', 'no handler for the IP protocol number'],
  UNHANDLED_PROTO: ['unknown', 'no handler for this protocol'],
  IPV6_BAD_EXTHDR: ['ip-header-error', 'a bad IPv6 extension header'],
  TCP_FLAGS: ['tcp-invalid-segment', 'TCP segment with an invalid flag combination for the connection state'],
  TCP_ABORT_ON_DATA: ['tcp-invalid-segment', 'data arrived for a connection the application already closed (it is reset)'],
  TCP_INVALID_SYN: ['tcp-invalid-segment', 'an unexpected SYN on an existing connection'],
  TCP_RESET: ['tcp-invalid-segment', 'the segment carried RST and the connection was torn down'],
  TCP_CLOSE: ['tcp-invalid-segment', 'the segment arrived for a closing connection'],
  TCP_OFOMERGE: ['unknown', 'out-of-order data merged into data already queued (duplicate)'],
  TCP_OLD_ACK: ['tcp-invalid-segment', 'an ACK for data already acknowledged'],
  TCP_INVALID_SEQUENCE: ['tcp-invalid-segment', 'a segment outside the receive window (the two ends disagree on sequence numbers, or a sender overran a shrunken window)'],
  TCP_INVALID_END_SEQUENCE: ['tcp-invalid-segment', 'a segment ending beyond the receive window'],
  TCP_OLD_SEQUENCE: ['tcp-invalid-segment', 'a segment entirely before the receive window (an old retransmit)'],
  TCP_INVALID_ACK_SEQUENCE: ['tcp-invalid-segment', 'an ACK for data never sent, or far too old'],
  TCP_TOO_OLD_ACK: ['tcp-invalid-segment', 'an ACK too old to be valid'],
  TCP_ACK_UNSENT_DATA: ['tcp-invalid-segment', 'an ACK for data not sent yet'],
  TCP_OVERWINDOW: ['tcp-invalid-segment', 'data beyond the advertised receive window'],
  TCP_OFO_DROP: ['socket-receive-buffer', 'out-of-order data dropped (no room in the receive window/memory)'],
  TCP_ZEROWINDOW: ['socket-receive-buffer', 'data arrived while the receive window was zero'],
  TCP_MD5NOTFOUND: ['tcp-auth', 'TCP-MD5 signature expected but missing'],
  TCP_MD5UNEXPECTED: ['tcp-auth', 'TCP-MD5 signature present but not expected'],
  TCP_MD5FAILURE: ['tcp-auth', 'TCP-MD5 signature did not verify'],
  TCP_AONOTFOUND: ['tcp-auth', 'TCP-AO expected but missing'],
  TCP_AOFAILURE: ['tcp-auth', 'TCP-AO signature did not verify'],
  TCP_MINTTL: ['tcp-invalid-segment', 'the TTL was below the socket\'s IP_MINTTL'],
  NOMEM: ['tcp-memory-pressure', 'the kernel could not allocate memory for the packet'],
  FULL_RING: ['nic-rx-drops', 'a device ring was full'],
  DEV_READY: ['nic-rx-drops', 'the device was not up/ready'],
  DEV_HDR: ['nic-rx-drops', 'the device could not build the link-layer header'],
  NO_TX_TARGET: ['nic-rx-drops', 'no device to transmit on'],
  QUEUE_PURGE: ['unknown', 'a queue was purged (socket or device going away)'],
  SKB_UCOPY_FAULT: ['unknown', 'copying data from user space failed'],
  SKB_GSO_SEG: ['unknown', 'segmenting a GSO packet failed'],
  VXLAN_INVALID_HDR: ['tunnel-error', 'a VXLAN packet with an invalid header'],
  VXLAN_VNI_NOT_FOUND: ['tunnel-error', 'no VXLAN device for this VNI'],
  TUNNEL_TXINFO: ['tunnel-error', 'a tunnel packet without transmit information'],
  IP_TUNNEL_ECN: ['tunnel-error', 'ECN decapsulation error'],
  MAC_INVALID_SOURCE: ['invalid-address', 'an invalid source MAC address'],
  BRIDGE_INGRESS_STP_STATE: ['unknown', 'the bridge port is not forwarding (STP blocking/learning)'],
  RECURSION_LIMIT: ['unknown', 'transmit recursion limit reached (a routing or tunnel loop)'],
  PFMEMALLOC: ['tcp-memory-pressure', 'the packet used emergency memory reserves for a socket that may not use them'],
};

/**
 * NOT_SPECIFIED drops said by where they happen (older call sites that pass
 * no reason): the function names the cause.
 */
const LOCATIONS: Array<[RegExp, R]> = [
  [/^dst_discard/, ['no-route', 'a blackhole, unreachable or prohibit route discarded the packet (dst_discard)']],
  [/^ip6?_error$|^ip6_pkt_(discard|prohibit)/, ['no-route', 'the route lookup ended in an unreachable/prohibit route']],
  [/^(packet_rcv|tpacket_rcv|packet_rcv_spkt)/, ['socket-receive-buffer', 'a packet socket (a capture tool, DHCP client, ...) could not take the packet: its ring or buffer was full']],
  [/^(nf_hook_slow|nf_reinject)/, ['firewall-rule', 'netfilter dropped it without a reason code']],
  [/^(__dev_queue_xmit|dev_hard_start_xmit|validate_xmit)/, ['qdisc-overflow', 'the device queue refused the packet']],
  [/^(enqueue_to_backlog|netif_rx)/, ['cpu-backlog-overflow', 'the CPU input backlog refused the packet']],
];

function reasonWords(reason: string, symbol: string | undefined, location: string | undefined): { cause: string; words: string; known: boolean } {
  const r = REASONS[reason];
  if (r) return { cause: r[0], words: r[1], known: true };
  if (reason === 'NOT_SPECIFIED' && symbol) {
    const hit = LOCATIONS.find(([re]) => re.test(symbol));
    if (hit) return { cause: hit[1][0], words: hit[1][1], known: true };
  }
  return { cause: 'unknown', words: `the kernel dropped these packets with reason ${reason}${location ? ` at ${location}` : ''}; droptrace has no specific rule for it`, known: false };
}

export const byReason: Rule = {
  id: 'by-reason',
  async run(ctx) {
    const groups = ctx.drops();
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.reason}|${g.symbol ?? ''}`, 1000)) {
      for (const sub of splitBy(part, (g) => `${g.direction}|${g.transport}|${g.dst.ip}|${g.dst.port}`, 3)) {
        const reason = sub[0].reason;
        const { cause, words, known } = reasonWords(reason, sub[0].symbol, sub[0].location);
        addDropFinding(ctx, sub, {
          cause,
          summary: (r) => `${n(r.total)} packets dropped (${reason}${sub[0].symbol ? ` at ${sub[0].symbol}` : ''}): ${words}${floodPhrase(r)}`,
          explanation: words,
          evidence: dropEvidence(ctx, sub),
          check: [`droptrace tail --filter-reason ${reason} --filter-netns ${sub[0].netns}   # the drops live, one per line`],
          fix: [],
          confidence: known ? 'medium' : 'low',
        });
      }
    }
  },
};

/** Counters that echo TCP loss (retransmits, timeouts): symptoms wherever a finding explained that namespace's TCP loss. */
const TCP_ECHO = new Set(['path-loss', 'ack-path-loss', 'listen-queue-overflow']);
const isEcho = (ctx: Parameters<Rule['run']>[0], c: CounterStat) =>
  (HOST_WIDE.has(c.source) && !ctx.d.hostWideStandalone)
  || (TCP_ECHO.has(c.info.cause ?? '') && ctx.tcpExplained.has(c.netns))
  // A sum of other counters, in a namespace where a finding explains losses already.
  || (c.info.aggregate === true && ctx.causesIn(c.netns).size > 0)
  // Its own cause, or one it is known to rise with, is already a finding here.
  || [c.info.cause, ...(c.info.echoOf ?? [])].some((x) => x !== undefined && ctx.causesIn(c.netns).has(x));

export const counterOnly: Rule = {
  id: 'counter-only',
  async run(ctx) {
    const leftover = ctx.counters(undefined, /./).filter((c) => c.info.loss && c.delta > 0 && !isEcho(ctx, c));
    const by = groupBy(leftover, (c) => `${c.netns}|${c.info.cause ?? 'unknown'}`);
    for (const [k, cs] of by) {
      const netns = Number(k.split('|')[0]);
      const cause = k.slice(k.indexOf('|') + 1);
      ctx.claimCounters(cs);
      // Another finding already names this cause here: these counters are its echo.
      if (ctx.causesIn(netns).has(cause)) continue;
      const lost = cs.reduce((s, c) => Math.max(s, c.delta), 0);
      const f = addDropFinding(ctx, [], {
        cause,
        summary: () => `${n(lost)} packets lost with no drop traced: ${cs.slice(0, 3).map((c) => `${c.name}${c.iface ? ` (${c.iface})` : ''} +${n(c.delta)}`).join(', ')}`,
        explanation: `Only the kernel's counters saw these losses (${cs[0].info.meaning}); the kernel frees such packets without a drop reason, or the trace filters excluded them.`,
        evidence: counterEvidence(ctx, cs),
        check: [`${inNs(ctx.ns(netns))}nstat -az ${cs.map((c) => c.name.replace('.', '')).join(' ')}`],
        fix: [],
        confidence: 'medium',
        lost,
      });
      f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
      f.flows = 0;
    }
  },
};

export const counterStorm: Rule = {
  id: 'counter-storm',
  async run(ctx) {
    const storms = ctx.counters(undefined, /./).filter((c) => c.storm && !isEcho(ctx, c));
    const by = groupBy(storms, (c) => c.netns);
    for (const [netns, cs] of by) {
      ctx.claimCounters(cs);
      const top = cs.sort((a, b) => b.peakRate - a.peakRate)[0];
      const impact = top.peakRate;
      const f: Finding = {
        cause: 'counter-storm', severity: severityOf(impact, 'low', 'high'), impact, lost: 0,
        summary: `${cs.length} kernel counter${cs.length > 1 ? 's' : ''} far above ${top.baseline !== undefined ? 'their baseline' : 'their storm floor'}: ${cs.slice(0, 3).map((c) => `${c.name} ${n(c.peakRate)}/s`).join(', ')}`,
        explanation: `A counter rising much faster than usual, with no drop or other finding that explains it. ${top.info.meaning}.`,
        evidence: counterEvidence(ctx, cs), check: [`${inNs(ctx.ns(netns))}nstat -az ${cs.map((c) => c.name.replace('.', '')).join(' ')}`], fix: [],
        confidence: 'low', flow: { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} }, flows: 0,
      };
      ctx.add(f);
    }
  },
};

export const incomplete: Rule = {
  id: 'diagnosis-incomplete',
  async run(ctx) {
    const ev: Finding['evidence'] = [];
    for (const [tool, whats] of ctx.d.notChecked) ev.push({ kind: 'tool', name: tool, value: 'not found', detail: `could not check: ${[...whats].join('; ') || TOOL_PURPOSE[tool as ToolName] || tool}` });
    for (const [ns, why] of ctx.d.unreadable) ev.push({ kind: 'tool', name: `netns ${ns}`, value: 'unreadable', detail: why });
    for (const u of ctx.d.untraced) ev.push({ kind: 'tool', name: 'signal', value: 'not traced', detail: u });
    if (ctx.d.obs.lostEvents > 0) ev.push({ kind: 'tool', name: 'lost events', value: ctx.d.obs.lostEvents, detail: 'bpftrace could not deliver every event' });
    if (ev.length === 0) return;
    ctx.add({
      cause: 'diagnosis-incomplete', severity: 'info', impact: 0, lost: 0,
      summary: `some things could not be checked: ${ev.map((e) => `${e.name} ${e.value}`).join(', ')}`,
      explanation: 'The findings above stand, but causes that need these tools or signals may be missing or less certain.',
      evidence: ev, check: [], fix: ev.filter((e) => e.value === 'not found').map((e) => ({ change: `install ${e.name} (Debian: ${e.name === 'ss' || e.name === 'ip' || e.name === 'tc' ? 'iproute2' : e.name.includes('iptables') ? 'iptables' : e.name === 'nsenter' ? 'util-linux' : e.name === 'nft' ? 'nftables' : e.name})`, caveat: 'none' })),
      confidence: 'high', flows: 0,
    });
  },
};
