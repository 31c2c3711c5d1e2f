// From an observation to ranked findings: rule attribution for the
// namespaces with NETFILTER_DROP, configuration read on demand, then every
// rule in order (rules/index.ts). Used by `doctor` (one window) and by `run`
// (every window).
import type { Observation, DropGroup } from './observe.js';
import { Ctx, type NetfilterResult, type NsInfo } from './context.js';
import { RULES } from './rules/index.js';
import { rankFindings } from './rank.js';
import type { Finding } from './finding.js';
import type { Tools, ToolName } from '../exec/tools.js';
import type { AnchorPool } from '../netns/pool.js';
import { NetnsConfig, type ConfigSource } from '../config/provider.js';
import { attribute, type DropFlow } from '../netfilter/attribute.js';
import { fillRuleText, type RulesetSnapshot } from '../netfilter/snapshot.js';
import type { QdiscInfo } from '../counters/parse.js';
import type { Rule } from './context.js';
import { groupBy } from '../util/group.js';

/** The namespaces' anchors (an AnchorPool; an empty view in unit tests). */
export type PoolView = Pick<AnchorPool, 'list' | 'get'>;

export interface DiagnoseInput {
  obs: Observation;
  pool: PoolView;
  tools: Tools;
  /** Rule snapshots at the start and end of the window, per namespace. */
  rulesBefore: Map<number, RulesetSnapshot>;
  rulesAfter: Map<number, RulesetSnapshot>;
  qdiscs: Map<number, QdiscInfo[]>;
  notChecked: Map<string, Set<string>>;
  unreadable: Map<number, string>;
  untraced: string[];
  softnetWorstCpu?: { cpu: number; dropped: number };
  hostWideStandalone: boolean;
  rules?: readonly Rule[];
  /** Overrides (tests): configuration per namespace, namespace names. */
  configFor?: (netns: number) => ConfigSource | undefined;
  namespaces?: Map<number, NsInfo>;
}

export function dropFlowOf(g: DropGroup): DropFlow {
  return {
    key: g.key, path: g.path, count: g.count, l3: g.l3, l4proto: g.transport,
    saddr: g.src.ip, daddr: g.dst.ip, sport: g.src.port, dport: g.dst.port, iifname: g.iif, oifname: g.oif,
  };
}

/** Attribute each namespace's NETFILTER_DROP groups to rules (and fill the candidates' text). */
export async function attributeAll(i: Pick<DiagnoseInput, 'obs' | 'pool' | 'tools' | 'rulesBefore' | 'rulesAfter' | 'notChecked'>): Promise<Map<number, NetfilterResult>> {
  const out = new Map<number, NetfilterResult>();
  const byNs = groupBy([...i.obs.drops.values()].filter((g) => g.reason === 'NETFILTER_DROP'), (g) => g.netns);
  await Promise.all([...byNs].map(async ([netns, groups]) => {
    const before = i.rulesBefore.get(netns);
    const after = i.rulesAfter.get(netns);
    if (!before || !after) {
      out.set(netns, { perGroup: new Map(), deltas: [], sources: [], unavailable: i.tools.has('nft') ? 'the namespace\'s rules could not be read' : 'nft not found' });
      return;
    }
    if (after.sources.length === 0 && after.missing.length > 0) {
      out.set(netns, { perGroup: new Map(), deltas: [], sources: [], unavailable: `${after.missing.join(', ')} not found` });
      return;
    }
    const a = attribute(before.ruleset, after.ruleset, groups.map(dropFlowOf));
    const anchor = i.pool.get(netns);
    const named = [...a.perFlow.values()].flatMap((x) => x.candidates.map((c) => c.rule).filter((r) => r !== undefined));
    if (anchor) await fillRuleText(anchor, i.tools, named);
    out.set(netns, { perGroup: a.perFlow, deltas: a.deltas, sources: after.sources });
  }));
  return out;
}

export async function diagnose(i: DiagnoseInput): Promise<Finding[]> {
  const namespaces = new Map<number, NsInfo>();
  for (const a of i.pool.list()) namespaces.set(a.netns.inode, { inode: a.netns.inode, name: a.netns.name, self: a.netns.self, handle: a.netns.handle, memberPid: a.netns.memberPid });
  const configs = new Map<number, NetnsConfig>();
  const notChecked = (tool: ToolName, what: string) => {
    let s = i.notChecked.get(tool);
    if (!s) i.notChecked.set(tool, (s = new Set()));
    s.add(what);
  };
  const config = (netns: number): ConfigSource | undefined => {
    if (i.configFor) return i.configFor(netns);
    let c = configs.get(netns);
    const anchor = i.pool.get(netns);
    if (!c && anchor && anchor.procNet()) configs.set(netns, (c = new NetnsConfig(anchor, i.tools, notChecked)));
    return c;
  };
  const netfilter = await attributeAll(i);
  for (const [k, v] of i.namespaces ?? []) namespaces.set(k, v);
  const ctx = new Ctx({
    obs: i.obs, namespaces, config, netfilter, qdiscs: i.qdiscs, tools: i.tools,
    notChecked: i.notChecked, unreadable: i.unreadable, untraced: i.untraced, softnetWorstCpu: i.softnetWorstCpu, hostWideStandalone: i.hostWideStandalone,
  });
  for (const r of i.rules ?? RULES) await r.run(ctx);
  return rankFindings(ctx.findings);
}
