// One model for nftables rules (nft -j) and iptables-legacy rules
// (iptables-legacy-save -c): what a rule matches (as far as we can tell),
// its verdict, its packet counter, and the netfilter hooks that reach it.

export type Backend = 'nft' | 'iptables-legacy' | 'ip6tables-legacy';
export type Verdict = 'drop' | 'reject' | 'accept' | 'jump' | 'goto' | 'return' | 'queue' | 'maybe-drop' | 'none';
export type Tri = 'yes' | 'no' | 'maybe';

/** A flow-level fact a rule tests. `field` names: l3, l4proto, saddr, daddr, sport, dport, iifname, oifname. */
export interface Cond {
  field: 'l3' | 'l4proto' | 'saddr' | 'daddr' | 'sport' | 'dport' | 'iifname' | 'oifname' | 'unknown';
  negate: boolean;
  /** Accepted values: exact strings/numbers, CIDR prefixes, numeric ranges, wildcard names ("eth*"). */
  values: Array<{ eq: string | number } | { prefix: string; len: number } | { range: [number, number] } | { glob: string }>;
  /** Text for "unknown" conditions (for a human reading candidates). */
  what?: string;
}

export interface NfRule {
  backend: Backend;
  family: string;
  table: string;
  chain: string;
  /** nft handle, or the 1-based position in the chain for iptables-legacy. */
  handle: string;
  comment?: string;
  /** Packet counter, undefined when the rule has none. */
  packets?: number;
  verdict: Verdict;
  /** Chains it jumps/goes to. */
  targets: string[];
  conds: Cond[];
  /** The rule as its tool prints it (filled in on demand). */
  text?: string;
  /** Hooks whose base chains reach this rule's chain. */
  hooks: string[];
}

export interface NfChain {
  backend: Backend;
  family: string;
  table: string;
  name: string;
  hook?: string;
  prio?: number;
  policy?: string;
  /** iptables-legacy counts the packets its built-in chains' policy decided. */
  policyPackets?: number;
}

export interface Ruleset {
  rules: NfRule[];
  chains: NfChain[];
}

export const ruleKey = (r: Pick<NfRule, 'backend' | 'family' | 'table' | 'chain' | 'handle'>) => `${r.backend}|${r.family}|${r.table}|${r.chain}|${r.handle}`;
export const chainKey = (c: { backend: Backend; family: string; table: string; name?: string; chain?: string }) => `${c.backend}|${c.family}|${c.table}|${c.name ?? c.chain}`;

/** Fill rule.hooks from the base chains that jump/goto (transitively) to each chain. */
export function computeHooks(rs: Ruleset): void {
  const reach = new Map<string, Set<string>>();
  const edges = new Map<string, string[]>();
  for (const r of rs.rules) {
    const from = chainKey(r);
    for (const t of r.targets) {
      const to = chainKey({ ...r, chain: t });
      const e = edges.get(from);
      if (e) e.push(to);
      else edges.set(from, [to]);
    }
  }
  for (const c of rs.chains) {
    if (!c.hook) continue;
    const seen = new Set<string>();
    const stack = [chainKey(c)];
    while (stack.length) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      let s = reach.get(k);
      if (!s) reach.set(k, (s = new Set()));
      s.add(c.hook);
      stack.push(...(edges.get(k) ?? []));
    }
  }
  for (const r of rs.rules) r.hooks = [...(reach.get(chainKey(r)) ?? [])];
}
