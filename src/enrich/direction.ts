// Which way was the lost packet going, and where in the stack?
//  - skb_iif != 0: the packet came in from a device (forwarded ones included)
//    → ingress. Otherwise it was generated on this host → egress / local-out.
//  - For ingress, the route attached to the skb tells local delivery from
//    forwarding: dst->input is ip_local_deliver/ip6_input for local-in and
//    ip_forward/ip6_forward for forward.
//  - No route (dropped before or without a routing decision, or the socket
//    layer dropped the route, e.g. UDP/TCP receive): local-in when a socket had
//    taken the packet (the probe's `local` flag: rx_sk or skb->sk) or the drop
//    happened in the socket layer; otherwise by the destination address: one
//    of the netns's own addresses (or multicast/broadcast) is local-in (an
//    rp_filter or prerouting conntrack drop of a packet for us), any other
//    unicast address would have been forwarded. Unknown only when none of
//    that can be told (no kallsyms, no handle on the netns).
import type { Direction, PathKind } from '../record/ecs.js';
import type { KallsymsSymbolizer } from './kallsyms.js';

const FORWARD_FUNCS = ['ip_forward', 'ip6_forward'];
const LOCAL_IN_FUNCS = ['ip_local_deliver', 'ip6_input', 'ip6_mc_input', 'ip_mr_input'];
/** Functions of local delivery (L4 receive and socket layer): a drop there is of a packet for this host. */
const SOCKET_LAYER = /^(__)?(tcp|tcp_v4|tcp_v6|udp|udpv6|udp4|udp6|udplite|raw|rawv6|icmp|icmpv6|igmp|igmp6|ping|sctp|sk|sock|ip_local|ip6_local|ip_protocol_deliver|ip6_protocol_deliver|xfrm4_udp|xfrm6_udp)(_|$)/;

export interface PathFacts {
  iif: number;
  dst_in: string;
  /** The probe saw a receiving socket (rx_sk / skb->sk) on a route-less ingress drop. */
  local?: number;
  netns: number;
  /** The drop location's function, when kallsyms names it. */
  symbol?: string;
  /** Destination address (canonical spelling), when IP. */
  dst?: string;
}

/** Is `ip` one of the netns's own addresses? undefined when that cannot be told. */
export type LocalAddressCheck = (netns: number, ip: string) => boolean | undefined;

function multicastOrBroadcast(ip: string): boolean {
  if (ip.includes(':')) return ip.startsWith('ff') || ip === '::1';
  const first = Number(ip.slice(0, ip.indexOf('.')));
  return (first >= 224 && first <= 239) || ip === '255.255.255.255' || first === 127;
}

export class PathClassifier {
  private readonly forward = new Set<string>();
  private readonly localIn = new Set<string>();

  constructor(symbols: KallsymsSymbolizer, private readonly isLocal?: LocalAddressCheck) {
    // Same spelling as the probe's "0x%llx", so lookups are plain string compares.
    const norm = (a: bigint) => '0x' + a.toString(16);
    for (const f of FORWARD_FUNCS) {
      const a = symbols.addressOf(f);
      if (a !== undefined) this.forward.add(norm(a));
    }
    for (const f of LOCAL_IN_FUNCS) {
      const a = symbols.addressOf(f);
      if (a !== undefined) this.localIn.add(norm(a));
    }
  }

  classify(f: PathFacts): { direction: Direction; path: PathKind } {
    if (f.iif === 0) return EGRESS;
    const key = f.dst_in.toLowerCase();
    if (this.forward.has(key)) return FORWARD;
    if (this.localIn.has(key)) return LOCAL_IN;
    if (f.local) return LOCAL_IN;
    // (GRO runs before routing, for forwarded packets too.)
    if (f.symbol && SOCKET_LAYER.test(f.symbol) && !f.symbol.includes('gro')) return LOCAL_IN;
    if (f.dst !== undefined) {
      if (multicastOrBroadcast(f.dst)) return LOCAL_IN;
      const local = this.isLocal?.(f.netns, f.dst);
      if (local !== undefined) return local ? LOCAL_IN : FORWARD;
    }
    return UNKNOWN;
  }
}

const EGRESS = { direction: 'egress', path: 'local-out' } as const;
const FORWARD = { direction: 'ingress', path: 'forward' } as const;
const LOCAL_IN = { direction: 'ingress', path: 'local-in' } as const;
const UNKNOWN = { direction: 'ingress', path: 'unknown' } as const;
