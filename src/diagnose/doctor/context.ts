// What every rule sees: the observation, each namespace's configuration (read
// on demand), rule attributions, and which drops/counters earlier rules have
// already explained (claimed), so nothing is explained twice.
import type { Observation, DropGroup, TcpGroup, CounterStat } from './observe.js';
import type { ConfigSource } from '../config/provider.js';
import type { Attribution, RuleDelta } from '../netfilter/attribute.js';
import type { QdiscInfo } from '../counters/parse.js';
import type { Finding } from './finding.js';
import type { Tools } from '../exec/tools.js';

export interface NsInfo {
  inode: number;
  name?: string;
  self: boolean;
  handle?: string;
  memberPid?: number;
}

export interface NetfilterResult {
  /** Attribution per drop group key. */
  perGroup: Map<string, Attribution>;
  deltas: RuleDelta[];
  sources: string[];
  /** Why rules could not be read, if they could not. */
  unavailable?: string;
}

export interface ContextDeps {
  obs: Observation;
  namespaces: Map<number, NsInfo>;
  config: (netns: number) => ConfigSource | undefined;
  netfilter: Map<number, NetfilterResult>;
  qdiscs: Map<number, QdiscInfo[]>;
  tools: Tools;
  /** tool → what could not be checked without it. */
  notChecked: Map<string, Set<string>>;
  /** Namespaces that could not be read, with why. */
  unreadable: Map<number, string>;
  /** Signals that were not traced (degraded or unavailable), with why. */
  untraced: string[];
  softnetWorstCpu?: { cpu: number; dropped: number };
  /**
   * Host-wide counters (softnet, neighbour tables) may make findings of their
   * own: not when the diagnosis is limited to some namespaces (they would
   * report other namespaces' trouble); then they only back those namespaces' findings.
   */
  hostWideStandalone: boolean;
}

export class Ctx {
  private readonly claimedDrops = new Set<string>();
  private readonly claimedTcp = new Set<string>();
  private readonly claimedCounters = new Set<string>();
  readonly findings: Finding[] = [];
  /** Namespaces whose TCP retransmits/incoming loss some finding already explained. */
  readonly tcpExplained = new Set<number>();

  constructor(readonly d: ContextDeps) {}

  get seconds(): number {
    return this.d.obs.seconds;
  }

  ns(inode: number): NsInfo {
    return this.d.namespaces.get(inode) ?? { inode, self: false };
  }

  drops(pred: (g: DropGroup) => boolean = () => true): DropGroup[] {
    const out: DropGroup[] = [];
    for (const g of this.d.obs.drops.values()) if (!this.claimedDrops.has(g.key) && pred(g)) out.push(g);
    return out;
  }

  tcp(pred: (g: TcpGroup) => boolean = () => true): TcpGroup[] {
    const out: TcpGroup[] = [];
    for (const g of this.d.obs.tcp.values()) if (!this.claimedTcp.has(g.key) && pred(g)) out.push(g);
    return out;
  }

  /** Drop groups some finding already explained. */
  claimedDropGroups(): DropGroup[] {
    return [...this.d.obs.drops.values()].filter((g) => this.claimedDrops.has(g.key));
  }

  /** All TCP groups, claimed or not (for corroboration). */
  allTcp(pred: (g: TcpGroup) => boolean): TcpGroup[] {
    return [...this.d.obs.tcp.values()].filter(pred);
  }

  allDrops(pred: (g: DropGroup) => boolean): DropGroup[] {
    return [...this.d.obs.drops.values()].filter(pred);
  }

  claim(groups: Array<DropGroup | TcpGroup>): void {
    for (const g of groups) {
      if ('reason' in g) this.claimedDrops.add(g.key);
      else {
        this.claimedTcp.add(g.key);
        this.tcpExplained.add(g.netns);
      }
    }
  }

  /** Counter stats of a namespace whose name is listed (all interfaces), unclaimed ones only unless `all`. */
  counters(netns: number | undefined, names: readonly string[] | RegExp, all = false): CounterStat[] {
    const out: CounterStat[] = [];
    for (const [k, c] of this.d.obs.counters) {
      if (netns !== undefined && c.netns !== netns) continue;
      if (!(Array.isArray(names) ? names.includes(c.name) : (names as RegExp).test(c.name))) continue;
      if (!all && this.claimedCounters.has(k)) continue;
      out.push(c);
    }
    return out;
  }

  delta(netns: number, name: string): number {
    return this.counters(netns, [name], true).reduce((s, c) => s + c.delta, 0);
  }

  claimCounters(cs: CounterStat[]): void {
    for (const c of cs) this.claimedCounters.add(`${c.netns}|${c.name}|${c.iface ?? ''}|${c.qdisc ?? ''}`);
  }

  isClaimed(c: CounterStat): boolean {
    return this.claimedCounters.has(`${c.netns}|${c.name}|${c.iface ?? ''}|${c.qdisc ?? ''}`);
  }

  add(f: Finding): void {
    this.findings.push(f);
  }

  /** Causes found in a namespace so far (generic counter findings do not repeat them). Read at query time: rules set a counter-only finding's namespace after adding it. */
  causesIn(netns: number): Set<string> {
    return new Set(this.findings.filter((f) => f.flow?.netns === netns).map((f) => f.cause));
  }

  notChecked(tool: string, what: string): void {
    let s = this.d.notChecked.get(tool);
    if (!s) this.d.notChecked.set(tool, (s = new Set()));
    s.add(what);
  }
}

export interface Rule {
  /** Module name (for tests and --explain). */
  readonly id: string;
  run(ctx: Ctx): Promise<void>;
}
