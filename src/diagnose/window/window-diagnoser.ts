// The diagnosis inside `run`: per flow window, the same counters, rule
// attribution and rules as the doctor, emitted as records next to the flow
// records — droptrace.counters (counters that moved, storms flagged) and
// droptrace.findings (one per cause × flow per window: the id is derived from
// both and the window end, so a re-sent window never duplicates). NETFILTER_DROP
// flow records are held until their window's rule counters are read, then
// carry ECS rule.* when one rule or policy explains them. Counter baselines
// are saved to the state directory after every window for `doctor`.
import type { EcsRecord } from '../../record/ecs.js';
import { Tools, TOOL_PURPOSE, type ToolName } from '../exec/tools.js';
import { CounterWatch } from '../counters/watch.js';
import { counterRecord } from '../counters/records.js';
import { loadBaselines, saveBaselines } from '../counters/baselines.js';
import { Observation, dropKeys } from '../doctor/observe.js';
import { diagnose, attributeAll } from '../doctor/diagnose.js';
import { findingRecord } from '../doctor/finding.js';
import { snapshotRuleset, type RulesetSnapshot } from '../netfilter/snapshot.js';
import type { QdiscInfo } from '../counters/parse.js';
import type { Candidate } from '../netfilter/attribute.js';

export interface WindowDiagnoserOptions {
  hostName: string;
  /** Where counter baselines are kept (created 0700); undefined = not kept. */
  stateDir?: string;
  only: ReadonlySet<number>;
  write: (r: EcsRecord) => void;
  log?: (m: string) => void;
  tools?: Tools;
  /** Emit diagnosis findings (counter records are emitted regardless). */
  findings?: boolean;
}

export class WindowDiagnoser {
  private readonly tools: Tools;
  private readonly watch: CounterWatch;
  /**
   * Per window, at most this many drop/TCP groups keep their source; the rest
   * are kept per destination service (what a finding reports anyway): a
   * 20,000-flow window costs the diagnosis ~2,000 groups, not 20,000.
   */
  private static readonly GROUPS = 2000;
  private obs = new Observation(WindowDiagnoser.GROUPS);
  private held: EcsRecord[] = [];
  /** Latest rule snapshots per namespace (a few, newest last). */
  private rulesHistory = new Map<number, RulesetSnapshot[]>();
  private lastIncomplete = '';
  private readonly notChecked = new Map<string, Set<string>>();
  errors = 0;

  constructor(private readonly o: WindowDiagnoserOptions) {
    this.tools = o.tools ?? new Tools();
    for (const t of this.tools.missing) this.notChecked.set(t, new Set([TOOL_PURPOSE[t as ToolName]]));
    const stored = o.stateDir ? loadBaselines(o.stateDir, 24 * 3_600_000) : undefined;
    this.watch = new CounterWatch({ tools: this.tools, only: o.only, ethtool: true, baselines: stored?.entries, rescanMs: 30_000 });
  }

  /**
   * First counter sample (values to take deltas from) and every namespace's
   * rule counters: a namespace's latest snapshot stays the base for its next
   * NETFILTER_DROP window (its drop rules cannot have moved in between
   * without a traced drop), so even a first short burst is attributed.
   */
  start(): Promise<void> {
    // Once, whoever asks first (run, or the first window closing meanwhile).
    this.startP ??= this.doStart();
    return this.startP;
  }

  private startP?: Promise<void>;

  private async doStart(): Promise<void> {
    const t = await this.watch.tick();
    this.obs.startMs = t.at;
    await Promise.all(this.watch.pool.list().map(async (a) => {
      if (a.procNet()) this.rulesHistory.set(a.netns.inode, [await snapshotRuleset(a, this.tools, this.note)]);
    }));
  }

  private readonly note = (tool: ToolName, what: string) => {
    let s = this.notChecked.get(tool);
    if (!s) this.notChecked.set(tool, (s = new Set()));
    s.add(what);
  };

  /** Take a flow record; true when it is held until the window closes (NETFILTER_DROP). */
  observe(r: EcsRecord): boolean {
    this.obs.add(r);
    if (r.event.dataset === 'droptrace.flows' && r.event.reason === 'NETFILTER_DROP' && !(r.droptrace as Record<string, any>).flow?.final) {
      this.held.push(r);
      return true;
    }
    return false;
  }

  async closeWindow(w: { startIso: string; endIso: string }): Promise<void> {
    await this.start();
    const obs = this.obs;
    const held = this.held;
    let written = 0;
    this.obs = new Observation(WindowDiagnoser.GROUPS);
    this.held = [];
    try {
      const t = await this.watch.tick();
      obs.addCounters(t.rows);
      obs.endMs = t.at;
      this.obs.startMs = t.at;
      for (const r of t.rows) if (r.delta > 0 || r.storm) this.o.write(counterRecord(r, this.o.hostName, t.at));
      // Rule counters of the namespaces with NETFILTER_DROP now, against their
      // latest snapshot (a namespace that appeared since start only starts its series).
      const nsDrops = new Set([...obs.drops.values()].filter((g) => g.reason === 'NETFILTER_DROP').map((g) => g.netns));
      const after = new Map<number, RulesetSnapshot>();
      await Promise.all([...nsDrops].map(async (ino) => {
        const a = this.watch.pool.get(ino);
        if (a?.procNet()) after.set(ino, await snapshotRuleset(a, this.tools, this.note));
      }));
      for (const ino of [...this.rulesHistory.keys()]) if (!this.watch.pool.get(ino)) this.rulesHistory.delete(ino);
      // The base is the newest snapshot finished before this window began: the
      // previous window's closing snapshot may be read after this window's
      // first drops (windows close asynchronously), and would hide them.
      const startMs = Date.parse(w.startIso);
      const before = new Map<number, RulesetSnapshot>();
      for (const [ino, hist] of this.rulesHistory) {
        const base = [...hist].reverse().find((x) => x.at <= startMs) ?? hist[0];
        if (base) before.set(ino, base);
      }
      for (const [ino, snap] of after) this.rulesHistory.set(ino, [...(this.rulesHistory.get(ino) ?? []), snap].slice(-3));
      // Let bpftrace's output be read between the phases of a big window.
      await yieldToEventLoop();
      const nf = await attributeAll({ obs, pool: this.watch.pool, tools: this.tools, rulesBefore: before, rulesAfter: after, notChecked: this.notChecked });
      await yieldToEventLoop();
      for (let i = 0; i < held.length; i++) {
        this.attachRule(held[i], nf);
        this.o.write(held[i]);
        written = i + 1;
        if (i % 2000 === 1999) await yieldToEventLoop();
      }
      if (this.o.findings !== false) {
        const qdiscs = new Map<number, QdiscInfo[]>();
        for (const s of t.snapshots) if (s.qdiscs) qdiscs.set(s.inode, s.qdiscs);
        const unreadable = new Map<number, string>();
        for (const s of t.snapshots) if (s.unreadable) unreadable.set(s.inode, s.unreadable);
        await yieldToEventLoop();
        const findings = await diagnose({
          obs, pool: this.watch.pool, tools: this.tools, rulesBefore: before, rulesAfter: after, qdiscs, notChecked: new Map([...this.notChecked].map(([k, v]) => [k, new Set(v)])),
          unreadable, untraced: [], softnetWorstCpu: t.softnetWorstCpu, hostWideStandalone: this.o.only.size === 0,
        });
        const meta = { host: this.o.hostName, startMs: Date.parse(w.startIso), endMs: Date.parse(w.endIso), windowS: (Date.parse(w.endIso) - Date.parse(w.startIso)) / 1000 };
        for (const f of findings) {
          // "Could not check X" is said once (and again when it changes), not every window.
          if (f.cause === 'diagnosis-incomplete') {
            if (f.summary === this.lastIncomplete) continue;
            this.lastIncomplete = f.summary;
          }
          this.o.write(findingRecord(f, meta));
        }
      }
      if (this.o.stateDir) saveBaselines(this.o.stateDir, this.watch.tracker.baselines());
    } catch (e) {
      this.errors++;
      this.o.log?.(`diagnosis: ${(e as Error).message}`);
      // Whatever failed, every held flow record goes out exactly once.
      for (const r of held.slice(written)) this.o.write(r);
    }
  }

  /** rule.* on a held NETFILTER_DROP flow record, when one rule or policy explains its group. */
  private attachRule(r: EcsRecord, nf: Awaited<ReturnType<typeof attributeAll>>): void {
    const ns = Number((r.droptrace as Record<string, any>).netns?.inode);
    const res = nf.get(ns);
    if (!res) return;
    const k = dropKeys(r);
    const a = res.perGroup.get(k.full) ?? res.perGroup.get(`${k.base}|*`);
    if (!a || (a.kind !== 'rule' && a.kind !== 'policy')) return;
    const ref = refOf(a.candidates[0]);
    if (ref) (r as unknown as Record<string, unknown>).rule = ref;
  }

  /** Drain: the last window's held records go out even if the diagnosis cannot run. */
  flushHeld(): void {
    for (const r of this.held) this.o.write(r);
    this.held = [];
  }

  close(): void {
    this.watch.close();
  }
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

function refOf(c: Candidate) {
  if (c.kind === 'rule' && c.rule) return { ruleset: `${c.rule.family}/${c.rule.table}`, category: c.rule.chain, id: c.rule.handle, ...(c.rule.comment !== undefined ? { name: c.rule.comment } : {}), ...(c.rule.text ? { description: c.rule.text } : {}) };
  if (c.kind === 'policy' && c.chain) return { ruleset: `${c.chain.family}/${c.chain.table}`, category: c.chain.name, id: 'policy', name: `policy ${c.chain.policy}`, description: `chain ${c.chain.name} policy ${c.chain.policy}` };
  return undefined;
}
