// NETFILTER_DROP, explained: a full conntrack table (the kernel's own
// nf_conntrack `drop` counter moved: the packets were dropped because no
// conntrack entry could be created, not by a rule), conntrack insert clashes,
// and otherwise the rule or chain policy that dropped them (attribution).
import type { Rule, Ctx, NetfilterResult } from '../context.js';
import type { DropGroup } from '../observe.js';
import { inNs, shq, severityOf, type Evidence, type Finding, type RuleRef } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, rollup } from './common.js';
import { describeCandidate, type Attribution, type Candidate } from '../../netfilter/attribute.js';
import { chainKey, ruleKey } from '../../netfilter/model.js';
import { groupBy } from '../../util/group.js';

const RULE_LOCATION = /^(nft_|ipt_do_table|ip6t_do_table|ebt_do_table|arpt_do_table)/;

function nsWithCounter(ctx: Ctx, name: string): number[] {
  return [...new Set(ctx.counters(undefined, [name], true).filter((c) => c.delta > 0).map((c) => c.netns))];
}

export const conntrackFull: Rule = {
  id: 'conntrack-table-full',
  async run(ctx) {
    const nss = new Set([...nsWithCounter(ctx, 'nf_conntrack.drop'), ...nsWithCounter(ctx, 'nf_conntrack.early_drop')]);
    for (const netns of nss) {
      const dropped = ctx.delta(netns, 'nf_conntrack.drop');
      const nf = ctx.d.netfilter.get(netns);
      // Drops no rule counter explains, away from the rule engines: conntrack's.
      const groups = ctx.drops((g) => g.netns === netns && g.reason === 'NETFILTER_DROP' && nf?.perGroup.get(g.key)?.kind !== 'rule' && !RULE_LOCATION.test(g.symbol ?? ''));
      const cs = ctx.counters(netns, ['nf_conntrack.drop', 'nf_conntrack.early_drop', 'nf_conntrack.insert_failed']);
      ctx.claimCounters(cs);
      const cfg = await ctx.d.config(netns)?.sysctls();
      const max = cfg?.get('net.netfilter.nf_conntrack_max');
      const count = cfg?.get('net.netfilter.nf_conntrack_count') ?? (ctx.d.obs.conntrackEntries.get(netns) !== undefined ? String(ctx.d.obs.conntrackEntries.get(netns)) : undefined);
      const p = inNs(ctx.ns(netns));
      const f = addDropFinding(ctx, groups, {
        cause: 'conntrack-table-full',
        summary: (r) => `conntrack table full: ${n(Math.max(dropped, r.total))} packets dropped because no connection-tracking entry could be created${count && max ? ` (${count} of ${max} entries in use)` : ''}`,
        explanation: 'Every new connection through netfilter with conntrack loaded needs an entry in the connection-tracking table. When the table holds nf_conntrack_max entries and none can be evicted, the kernel drops the packet (NETFILTER_DROP at nf_hook_slow, counted in /proc/net/stat/nf_conntrack "drop"): it looks like a firewall drop, but no rule did it.',
        evidence: [...dropEvidence(ctx, groups), ...counterEvidence(ctx, cs), ...configEvidence('net.netfilter.nf_conntrack_count', count, 'entries in use in this namespace'), ...configEvidence('net.netfilter.nf_conntrack_max', max, 'table limit (set in the initial namespace; read-only in others)')],
        check: [`${p}cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max`, `${p}cat /proc/net/stat/nf_conntrack`, `${p}conntrack -S`],
        fix: [
          { change: 'sysctl -w net.netfilter.nf_conntrack_max=<larger> (in the initial namespace) and raise nf_conntrack_buckets with it', caveat: 'each entry costs ~300 bytes of kernel memory; the limit is host-wide' },
          { change: 'shorten idle timeouts (net.netfilter.nf_conntrack_udp_timeout, nf_conntrack_tcp_timeout_established) so entries free sooner', caveat: 'long-idle connections lose their state and NAT mapping' },
          { change: `skip tracking for high-volume stateless traffic: ${p}nft add rule … notrack (raw/prerouting priority)`, caveat: 'untracked packets cannot be NATed or matched by ct state rules' },
        ],
        confidence: 'high',
        minSeverity: 'high',
        lost: dropped,
      });
      if (groups.length === 0) {
        f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
        f.flows = 0;
      }
      f.severity = severityOf(f.impact, 'high');
    }
  },
};

export const conntrackClash: Rule = {
  id: 'conntrack-clash',
  async run(ctx) {
    for (const netns of nsWithCounter(ctx, 'nf_conntrack.insert_failed')) {
      const cs = ctx.counters(netns, ['nf_conntrack.insert_failed', 'nf_conntrack.clashres']);
      if (cs.length === 0) continue;
      ctx.claimCounters(cs);
      const lost = ctx.delta(netns, 'nf_conntrack.insert_failed');
      const nf = ctx.d.netfilter.get(netns);
      const groups = ctx.drops((g) => g.netns === netns && g.reason === 'NETFILTER_DROP' && nf?.perGroup.get(g.key)?.kind !== 'rule' && !RULE_LOCATION.test(g.symbol ?? ''));
      const p = inNs(ctx.ns(netns));
      const f = addDropFinding(ctx, groups, {
        cause: 'conntrack-clash',
        summary: () => `${n(lost)} packets dropped because their conntrack entry clashed with another one being inserted at the same time`,
        explanation: 'Two packets of the same new flow (typically UDP, e.g. DNS A and AAAA queries sent together from one socket) raced to create the same conntrack entry on two CPUs; the loser is dropped and counted as insert_failed.',
        evidence: [...dropEvidence(ctx, groups), ...counterEvidence(ctx, cs)],
        check: [`${p}cat /proc/net/stat/nf_conntrack`, `${p}conntrack -S`],
        fix: [
          { change: 'for DNS clients: options single-request-reopen (glibc resolv.conf) or use TCP', caveat: 'slightly slower lookups' },
          { change: 'skip conntrack for that traffic (nft … notrack)', caveat: 'no NAT or ct-state matching for it' },
        ],
        confidence: 'high',
        lost,
      });
      if (groups.length === 0) {
        f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
        f.flows = 0;
      }
    }
  },
};

function ruleRef(c: Candidate): RuleRef | undefined {
  if (c.kind === 'rule' && c.rule) {
    const r = c.rule;
    return { ruleset: `${r.family}/${r.table}`, category: r.chain, id: r.handle, ...(r.comment !== undefined ? { name: r.comment } : {}), ...(r.text ? { description: r.text } : {}) };
  }
  if (c.kind === 'policy' && c.chain) {
    return { ruleset: `${c.chain.family}/${c.chain.table}`, category: c.chain.name, id: 'policy', name: `policy ${c.chain.policy}`, description: `chain ${c.chain.name} policy ${c.chain.policy}` };
  }
  return undefined;
}

function bucketOf(a: Attribution | undefined): string {
  if (!a || a.kind === 'none') return 'none';
  return `${a.kind}|${a.candidates.map((c) => (c.rule ? ruleKey(c.rule) : chainKey(c.chain!))).join(',')}`;
}

const isInvalidRule = (c: Candidate | undefined) => Boolean(c?.rule?.text && /ct state (\{[^}]*)?invalid|--ctstate (\S*,)?INVALID|--state (\S*,)?INVALID/i.test(c.rule.text));

function checkFor(c: Candidate, p: string): string {
  const fam = c.rule?.family ?? c.chain!.family;
  const table = c.rule?.table ?? c.chain!.table;
  const chain = c.rule?.chain ?? c.chain!.name;
  const backend = c.rule?.backend ?? c.chain!.backend;
  if (backend === 'nft') return `${p}nft -a list chain ${fam} ${shq(table)} ${shq(chain)}`;
  const tool = backend === 'ip6tables-legacy' ? 'ip6tables-legacy' : 'iptables-legacy';
  return `${p}${tool} -t ${shq(table)} -L ${shq(chain)} -v -n --line-numbers`;
}

export const firewallRule: Rule = {
  id: 'firewall-rule',
  async run(ctx) {
    const all = ctx.drops((g) => g.reason === 'NETFILTER_DROP');
    const byNs = groupBy(all, (g) => g.netns);
    for (const [netns, groups] of byNs) {
      const nf: NetfilterResult | undefined = ctx.d.netfilter.get(netns);
      const buckets = new Map<string, { a?: Attribution; groups: DropGroup[] }>();
      for (const g of groups) {
        const a = nf?.perGroup.get(g.key);
        const k = bucketOf(a);
        const b = buckets.get(k) ?? { a, groups: [] };
        b.groups.push(g);
        buckets.set(k, b);
      }
      const p = inNs(ctx.ns(netns));
      for (const { a, groups: gs } of buckets.values()) {
        const one = a && (a.kind === 'rule' || a.kind === 'policy') ? a.candidates[0] : undefined;
        const r = rollup(ctx, gs);
        const evidence: Evidence[] = [...dropEvidence(ctx, gs)];
        const check: string[] = [];
        let fix: Finding['fix'] = [];
        let summary: string;
        const where = `${r.flow.direction}/${r.flow.path}`;
        if (one) {
          const desc = describeCandidate(one);
          evidence.push({ kind: 'rule', name: desc, value: one.delta ?? 0, ...(one.delta !== undefined ? { delta: one.delta } : {}), detail: (one.rule?.text ?? (one.kind === 'policy' ? 'chain default policy' : '')) + ` — ${a!.note}` });
          check.push(checkFor(one, p));
          if (one.kind === 'policy') {
            summary = `${n(r.total)} packets (${where}) dropped by the default policy of ${desc}${floodPhrase(r)}`;
            fix = [{ change: `add a rule accepting this traffic to ${one.chain!.family} ${one.chain!.table} ${one.chain!.name} (before the policy applies)`, caveat: 'only if this traffic is wanted: the policy may be deliberate' }];
          } else {
            summary = `${n(r.total)} packets (${where}) dropped by ${desc}${floodPhrase(r)}`;
            const rl = one.rule!;
            fix = rl.backend === 'nft'
              ? [
                { change: `${p}nft delete rule ${rl.family} ${shq(rl.table)} ${shq(rl.chain)} handle ${rl.handle}`, caveat: 'the rule may be deliberate (see its comment); narrow it rather than delete it if only this flow should pass' },
                { change: `${p}nft insert rule ${rl.family} ${shq(rl.table)} ${shq(rl.chain)} position ${rl.handle} <match this flow> accept`, caveat: 'opens the path for whatever the match covers' },
              ]
              : [{ change: `${p}${rl.backend === 'ip6tables-legacy' ? 'ip6tables-legacy' : 'iptables-legacy'} -t ${shq(rl.table)} -D ${shq(rl.chain)} ${rl.handle}`, caveat: 'the rule may be deliberate; narrow it rather than delete it if only this flow should pass' }];
          }
        } else if (a && a.kind === 'ambiguous') {
          summary = `${n(r.total)} packets (${where}) dropped by netfilter; ${a.candidates.length} candidate rules/policies${floodPhrase(r)}`;
          for (const c of a.candidates) {
            evidence.push({ kind: 'rule', name: `candidate: ${describeCandidate(c)}`, value: c.delta ?? 0, ...(c.delta !== undefined ? { delta: c.delta } : {}), detail: c.rule?.text ?? (c.kind === 'policy' ? 'chain default policy' : '') });
            check.push(checkFor(c, p));
          }
          evidence.push({ kind: 'rule', name: 'ambiguity', value: a.candidates.length, detail: a.note });
          const uncounted = a.candidates.filter((c) => c.kind === 'uncounted-rule');
          fix = [
            ...(uncounted.length ? [{ change: `add a counter to the candidate rules so the next diagnosis can tell them apart: ${p}nft replace rule FAMILY TABLE CHAIN handle H <same rule with \`counter\` before its verdict>`, caveat: 'a counter costs a few nanoseconds per packet' }] : []),
            { change: 'trace one packet of this flow: nft add rule … meta nftrace set 1, then nft monitor trace', caveat: 'tracing every packet is slow: match narrowly' },
          ];
        } else {
          const why = nf?.unavailable ?? (nf ? a?.note ?? 'no rule counter moved' : 'the ruleset could not be read');
          summary = `${n(r.total)} packets (${where}) dropped by netfilter; the rule could not be named (${why})${floodPhrase(r)}`;
          evidence.push({ kind: 'rule', name: 'not attributed', value: 0, detail: why });
          check.push(`${p}nft -a list ruleset`, `${p}iptables-legacy-save -c`);
          fix = [{ change: 'add counters to the dropping rules, or trace a packet (nft add rule … meta nftrace set 1; nft monitor trace)', caveat: 'then run the doctor again' }];
        }
        addDropFinding(ctx, gs, {
          cause: isInvalidRule(one) ? 'conntrack-invalid' : 'firewall-rule',
          summary: () => summary,
          explanation: isInvalidRule(one)
            ? 'A rule drops packets conntrack classified as INVALID (no matching connection state: out-of-window TCP, asymmetric routing, a conntrack entry that expired or was flushed).'
            : 'A netfilter rule (nftables, iptables-nft or iptables-legacy) or a base chain\'s default policy returned DROP/REJECT for these packets. Named by correlating the rules\' packet counters over the window with the drops traced in the same namespace and hook.',
          evidence, check, fix,
          confidence: one ? a!.confidence : 'low',
          rule: one ? ruleRef(one) : undefined,
        });
      }
    }
  },
};
