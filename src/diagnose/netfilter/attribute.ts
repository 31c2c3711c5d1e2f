// Which rule dropped these packets? Per namespace, the rule counters' deltas
// over the window (two snapshots) are correlated with the NETFILTER_DROP
// flows traced in the same window and namespace: a rule is a candidate for a
// flow when its verdict can drop, a base chain on a hook the flow passes
// reaches it, its counter moved, and it can match the flow. One candidate
// names the rule; several are reported as ambiguous with each candidate;
// none with a dropping chain policy names the policy (nftables does not count
// policy verdicts, iptables-legacy does); rules without counters are listed
// with how to add one. Cost: one pass over the rules per snapshot plus, per
// flow, the moved drop rules only (10,000 rules: well under a second).
import { chainKey, ruleKey, type NfChain, type NfRule, type Ruleset, type Tri } from './model.js';
import { familyFits, ruleMatches, type FlowFacts } from './match.js';
import type { PathKind } from '../../record/ecs.js';

export interface DropFlow extends FlowFacts {
  key: string;
  path: PathKind | string;
  count: number;
}

export interface RuleDelta {
  rule: NfRule;
  delta: number;
  /** Traced drops attributed to it in the window. */
  traced: number;
}

export interface Candidate {
  kind: 'rule' | 'policy' | 'uncounted-rule';
  rule?: NfRule;
  chain?: NfChain;
  delta?: number;
  match: Tri;
}

export interface Attribution {
  kind: 'rule' | 'policy' | 'ambiguous' | 'none';
  /** The one rule/policy (kind rule/policy), or every candidate (ambiguous). */
  candidates: Candidate[];
  confidence: 'high' | 'medium' | 'low';
  note: string;
}

const DROPPING = new Set(['drop', 'reject', 'maybe-drop']);

/** Hooks a packet on this path passes (netdev/inet ingress and egress included). */
export function hooksFor(path: string): Set<string> {
  if (path === 'local-in') return new Set(['ingress', 'prerouting', 'input']);
  if (path === 'forward') return new Set(['ingress', 'prerouting', 'forward', 'postrouting', 'egress']);
  if (path === 'local-out') return new Set(['output', 'postrouting', 'egress']);
  return new Set(['ingress', 'prerouting', 'input', 'forward', 'output', 'postrouting', 'egress']);
}

export function ruleDeltas(before: Ruleset, after: Ruleset): Map<string, RuleDelta> {
  const old = new Map<string, number | undefined>();
  for (const r of before.rules) old.set(ruleKey(r), r.packets);
  const out = new Map<string, RuleDelta>();
  for (const r of after.rules) {
    if (r.packets === undefined) continue;
    const k = ruleKey(r);
    // A rule added during the window counted from zero; a counter that went
    // down was reset (nft reset counters): its current value is the delta.
    const was = old.has(k) ? old.get(k) ?? 0 : 0;
    const d = r.packets >= was ? r.packets - was : r.packets;
    if (d > 0) out.set(k, { rule: r, delta: d, traced: 0 });
  }
  return out;
}

function policyDeltas(before: Ruleset, after: Ruleset): Map<string, { chain: NfChain; delta: number }> {
  const old = new Map(before.chains.map((c) => [chainKey(c), c.policyPackets ?? 0]));
  const out = new Map<string, { chain: NfChain; delta: number }>();
  for (const c of after.chains) {
    if (c.policyPackets === undefined || c.policy !== 'drop') continue;
    const d = c.policyPackets - (old.get(chainKey(c)) ?? 0);
    if (d > 0) out.set(chainKey(c), { chain: c, delta: d });
  }
  return out;
}

export function attribute(before: Ruleset, after: Ruleset, flows: DropFlow[]): { perFlow: Map<string, Attribution>; deltas: RuleDelta[] } {
  const deltas = ruleDeltas(before, after);
  const moved = [...deltas.values()].filter((d) => DROPPING.has(d.rule.verdict));
  const policies = policyDeltas(before, after);
  const perFlow = new Map<string, Attribution>();
  for (const f of [...flows].sort((a, b) => b.count - a.count)) {
    const hooks = hooksFor(f.path);
    const onPath = (hs: string[]) => hs.some((h) => hooks.has(h));
    const cands: Candidate[] = [];
    for (const d of moved) {
      if (!onPath(d.rule.hooks)) continue;
      const m = ruleMatches(d.rule, f);
      if (m !== 'no') cands.push({ kind: 'rule', rule: d.rule, delta: d.delta, match: m });
    }
    for (const p of policies.values()) {
      if (p.chain.hook && hooks.has(p.chain.hook) && familyFits(p.chain.family, f.l3)) cands.push({ kind: 'policy', chain: p.chain, delta: p.delta, match: 'maybe' });
    }
    let a: Attribution;
    const yes = cands.filter((c) => c.match === 'yes');
    if (cands.length === 1) {
      const c = cands[0];
      a = { kind: c.kind === 'policy' ? 'policy' : 'rule', candidates: [c], confidence: c.match === 'yes' || c.kind === 'policy' ? 'high' : 'medium', note: c.kind === 'policy' ? 'the chain policy counter moved' : 'the only dropping rule on this path whose counter moved' };
    } else if (cands.length > 1 && yes.length === 1) {
      a = { kind: 'rule', candidates: [yes[0]], confidence: 'medium', note: `the only one of ${cands.length} moved dropping rules that matches this flow's addresses and ports` };
    } else if (cands.length > 1) {
      a = { kind: 'ambiguous', candidates: cands.sort((x, y) => (y.delta ?? 0) - (x.delta ?? 0)).slice(0, 8), confidence: 'low', note: `${cands.length} dropping rules on this path moved and could match this flow` };
    } else {
      a = fallback(after, f, hooks);
    }
    perFlow.set(f.key, a);
    if ((a.kind === 'rule') && a.candidates[0].rule) {
      const d = deltas.get(ruleKey(a.candidates[0].rule));
      if (d) d.traced += f.count;
    }
  }
  return { perFlow, deltas: [...deltas.values()] };
}

/** No counter moved: a dropping chain policy, or dropping rules without counters. */
function fallback(rs: Ruleset, f: DropFlow, hooks: Set<string>): Attribution {
  const policyChains = rs.chains.filter((c) => c.backend === 'nft' && c.hook && hooks.has(c.hook) && c.policy === 'drop' && familyFits(c.family, f.l3));
  const uncounted = rs.rules.filter((r) => r.packets === undefined && DROPPING.has(r.verdict) && r.hooks.some((h) => hooks.has(h)) && ruleMatches(r, f) !== 'no');
  const cands: Candidate[] = [
    ...policyChains.map((c) => ({ kind: 'policy' as const, chain: c, match: 'maybe' as Tri })),
    ...uncounted.slice(0, 8).map((r) => ({ kind: 'uncounted-rule' as const, rule: r, match: ruleMatches(r, f) })),
  ];
  if (cands.length === 1 && cands[0].kind === 'policy') {
    return { kind: 'policy', candidates: cands, confidence: 'medium', note: 'no rule counter on this path moved; this base chain drops by default' };
  }
  if (cands.length > 0) {
    return { kind: 'ambiguous', candidates: cands, confidence: 'low', note: 'no rule counter on this path moved: the drop came from a chain policy or a rule without a counter' };
  }
  return { kind: 'none', candidates: [], confidence: 'low', note: 'no dropping rule or policy on this path could be found (ruleset changed, or rules we cannot read)' };
}

/** "inet dtest c_in handle 4" / "ip filter INPUT policy". */
export function describeCandidate(c: Candidate): string {
  if (c.kind === 'policy' && c.chain) return `${c.chain.family} ${c.chain.table} ${c.chain.name} policy ${c.chain.policy}${c.chain.backend !== 'nft' ? ` (${c.chain.backend})` : ''}`;
  const r = c.rule!;
  const where = `${r.family} ${r.table} ${r.chain} ${r.backend === 'nft' ? `handle ${r.handle}` : `rule ${r.handle} (${r.backend})`}`;
  return `${where}${r.comment !== undefined ? ` "${r.comment}"` : ''}${c.kind === 'uncounted-rule' ? ' (no counter)' : ''}`;
}
