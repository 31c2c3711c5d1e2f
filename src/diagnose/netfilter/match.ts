// Could this rule have matched this flow? yes / no / maybe (when the rule
// tests something a flow record does not carry: conntrack state, marks, ...).
import type { Cond, NfRule, Tri } from './model.js';
import { ipToBig } from '../../decode/address.js';

export { ipToBig };

export interface FlowFacts {
  l3?: 'ipv4' | 'ipv6';
  l4proto?: string;
  saddr?: string;
  daddr?: string;
  sport?: number;
  dport?: number;
  iifname?: string;
  oifname?: string;
}

const PROTO: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, 'ipv6-icmp': 58, sctp: 132, udplite: 136, dccp: 33 };
const protoNum = (v: string | number) => (typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : PROTO[v.toLowerCase()]);

function addrIn(ip: string, val: Cond['values'][number]): Tri {
  const a = ipToBig(ip);
  if (!a) return 'maybe';
  if ('eq' in val) {
    const b = ipToBig(String(val.eq));
    return !b ? 'maybe' : a.bits === b.bits && a.v === b.v ? 'yes' : 'no';
  }
  if ('prefix' in val) {
    const b = ipToBig(val.prefix);
    if (!b) return 'maybe';
    if (a.bits !== b.bits) return 'no';
    const shift = BigInt(a.bits - val.len);
    return a.v >> shift === b.v >> shift ? 'yes' : 'no';
  }
  return 'maybe';
}

function one(c: Cond, f: FlowFacts): Tri {
  const anyOf = (test: (v: Cond['values'][number]) => Tri): Tri => {
    let r: Tri = 'no';
    for (const v of c.values) {
      const t = test(v);
      if (t === 'yes') return 'yes';
      if (t === 'maybe') r = 'maybe';
    }
    return r;
  };
  switch (c.field) {
    case 'unknown':
      return 'maybe';
    case 'l3': {
      if (!f.l3) return 'maybe';
      return anyOf((v) => ('eq' in v ? (['ipv4', 'ip', 2, '2'].includes(v.eq) ? f.l3 === 'ipv4' : ['ipv6', 'ip6', 10, '10'].includes(v.eq) ? f.l3 === 'ipv6' : false) ? 'yes' : 'no' : 'maybe'));
    }
    case 'l4proto': {
      const p = f.l4proto !== undefined ? protoNum(f.l4proto) : undefined;
      if (p === undefined) return 'maybe';
      return anyOf((v) => ('eq' in v ? (protoNum(v.eq) === undefined ? 'maybe' : protoNum(v.eq) === p ? 'yes' : 'no') : 'range' in v ? (p >= v.range[0] && p <= v.range[1] ? 'yes' : 'no') : 'maybe'));
    }
    case 'saddr':
    case 'daddr': {
      const ip = c.field === 'saddr' ? f.saddr : f.daddr;
      return ip === undefined ? 'maybe' : anyOf((v) => addrIn(ip, v));
    }
    case 'sport':
    case 'dport': {
      const port = c.field === 'sport' ? f.sport : f.dport;
      if (port === undefined) return 'maybe';
      return anyOf((v) => ('eq' in v ? (typeof v.eq === 'number' || /^\d+$/.test(v.eq) ? (Number(v.eq) === port ? 'yes' : 'no') : 'maybe') : 'range' in v ? (port >= v.range[0] && port <= v.range[1] ? 'yes' : 'no') : 'maybe'));
    }
    case 'iifname':
    case 'oifname': {
      const name = c.field === 'iifname' ? f.iifname : f.oifname;
      if (name === undefined) return 'maybe';
      return anyOf((v) => ('eq' in v ? (String(v.eq) === name ? 'yes' : 'no') : 'glob' in v ? (name.startsWith(v.glob.slice(0, -1)) ? 'yes' : 'no') : 'maybe'));
    }
  }
}

export function familyFits(family: string, l3: FlowFacts['l3']): boolean {
  if (family === 'ip') return l3 !== 'ipv6';
  if (family === 'ip6') return l3 !== 'ipv4';
  if (family === 'arp') return l3 === undefined;
  return true; // inet, bridge, netdev
}

export function ruleMatches(r: NfRule, f: FlowFacts): Tri {
  if (!familyFits(r.family, f.l3)) return 'no';
  let out: Tri = 'yes';
  for (const c of r.conds) {
    let t = one(c, f);
    if (c.negate && t !== 'maybe') t = t === 'yes' ? 'no' : 'yes';
    if (t === 'no') return 'no';
    if (t === 'maybe') out = 'maybe';
  }
  return out;
}
