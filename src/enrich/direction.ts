// Which way was the lost packet going, and where in the stack?
//  - skb_iif != 0: the packet came in from a device (forwarded ones included)
//    → ingress. Otherwise it was generated on this host → egress / local-out.
//  - For ingress, the route attached to the skb tells local delivery from
//    forwarding: dst->input is ip_local_deliver/ip6_input for local-in and
//    ip_forward/ip6_forward for forward. No route yet (dropped before the
//    routing decision, e.g. prerouting or a bad header) → local-in is not
//    certain, so the path is "unknown".
import type { Direction, PathKind } from '../record/ecs.js';
import type { KallsymsSymbolizer } from './kallsyms.js';

const FORWARD_FUNCS = ['ip_forward', 'ip6_forward'];
const LOCAL_IN_FUNCS = ['ip_local_deliver', 'ip6_input', 'ip6_mc_input', 'ip_mr_input'];

export class PathClassifier {
  private readonly forward = new Set<string>();
  private readonly localIn = new Set<string>();

  constructor(symbols: KallsymsSymbolizer) {
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

  classify(iif: number, dstInputHex: string): { direction: Direction; path: PathKind } {
    if (iif === 0) return { direction: 'egress', path: 'local-out' };
    const key = dstInputHex.toLowerCase();
    if (this.forward.has(key)) return { direction: 'ingress', path: 'forward' };
    if (this.localIn.has(key)) return { direction: 'ingress', path: 'local-in' };
    return { direction: 'ingress', path: 'unknown' };
  }
}
