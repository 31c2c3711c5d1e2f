// Snapshots of a namespace's rule counters: nftables (which includes
// iptables-nft's tables) through `nft -j list ruleset`, and iptables-legacy
// through `iptables-legacy-save -c` when the namespace has legacy tables
// (/proc/<pid>/net/ip_tables_names is not empty). All through the
// namespace's anchor, argv arrays only.
import { join } from 'node:path';
import type { Anchor } from '../netns/anchor.js';
import { runTool, ToolMissing, type Tools, type ToolName } from '../exec/tools.js';
import { readText } from '../counters/read.js';
import { parseNftJson, parseNftText } from './nft.js';
import { parseIptablesSave } from './iptables.js';
import type { NfRule, Ruleset } from './model.js';

export interface RulesetSnapshot {
  at: number;
  ruleset: Ruleset;
  /** What was read: "nft", "iptables-legacy", ... */
  sources: string[];
  /** Tools that were needed but not found. */
  missing: string[];
}

export async function snapshotRuleset(a: Anchor, tools: Tools, notChecked: (t: ToolName, what: string) => void, now = Date.now): Promise<RulesetSnapshot> {
  const ns = a.netns.self ? undefined : a.handle();
  const rules: Ruleset = { rules: [], chains: [] };
  const sources: string[] = [];
  const missing: string[] = [];
  const jobs: Array<Promise<void>> = [];
  const add = (rs: Ruleset, src: string) => {
    rules.rules.push(...rs.rules);
    rules.chains.push(...rs.chains);
    sources.push(src);
  };
  jobs.push(runTool(tools, 'nft', ['-j', 'list', 'ruleset'], { netns: ns, timeoutMs: 10_000 }).then((r) => {
    if (r.code === 0 && r.stdout.trim()) add(parseNftJson(JSON.parse(r.stdout)), 'nft');
    else if (r.code === 0) sources.push('nft');
  }, (e) => {
    if (e instanceof ToolMissing) {
      notChecked(e.tool, 'naming the nftables rule behind NETFILTER_DROP');
      missing.push(e.tool);
    }
  }));
  const dir = a.procNet();
  for (const [names, tool] of [['ip_tables_names', 'iptables-legacy-save'], ['ip6_tables_names', 'ip6tables-legacy-save']] as const) {
    const t = dir ? readText(join(dir, names)) : undefined;
    if (!t || !t.trim()) continue;
    jobs.push(runTool(tools, tool, ['-c'], { netns: ns, timeoutMs: 10_000 }).then((r) => {
      if (r.code === 0) add(parseIptablesSave(r.stdout, tool === 'iptables-legacy-save' ? 'iptables-legacy' : 'ip6tables-legacy'), tool.replace('-save', ''));
    }, (e) => {
      if (e instanceof ToolMissing) {
        notChecked(e.tool, 'naming the iptables-legacy rule behind NETFILTER_DROP');
        missing.push(e.tool);
      }
    }));
  }
  await Promise.all(jobs);
  return { at: now(), ruleset: rules, sources, missing };
}

/** Fill `text` of the nft rules the JSON could not be rendered for, from `nft -a list ruleset`. */
export async function fillRuleText(a: Anchor, tools: Tools, rules: NfRule[]): Promise<void> {
  const nft = rules.filter((r) => r.backend === 'nft' && r.text === undefined);
  if (nft.length === 0 || !tools.has('nft')) return;
  const r = await runTool(tools, 'nft', ['-a', 'list', 'ruleset'], { netns: a.netns.self ? undefined : a.handle(), timeoutMs: 10_000 }).catch(() => undefined);
  if (!r || r.code !== 0) return;
  const texts = parseNftText(r.stdout);
  for (const x of nft) x.text = texts.get(`${x.family}|${x.table}|${x.chain}|${x.handle}`);
}
