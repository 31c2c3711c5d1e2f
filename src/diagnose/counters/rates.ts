// Counter values → rates against each counter's own baseline (an EWMA of its
// past rates), and storms: a rate at or above the counter's absolute floor
// and far above its baseline — or, with no history yet (a doctor started in
// the middle of an incident), at or above the floor alone. Pure: values and
// times in, rows out; the baselines can be saved and loaded (baselines.ts).
import { counterInfo, type CounterInfo } from './catalog.js';
import { sampleKey, type CounterSample } from './parse.js';

export interface Baseline {
  /** EWMA of the rate (per second). */
  rate: number;
  /** Rates folded in so far. */
  samples: number;
}

/** Which counter: its namespace and what names it in there. */
export interface CounterIdentity extends Pick<CounterSample, 'name' | 'source' | 'iface' | 'qdisc'> {
  netns: number;
  netnsName?: string;
}

export interface CounterRow extends CounterIdentity {
  value: number;
  delta: number;
  /** delta / seconds since the previous value. */
  rate: number;
  /** Baseline rate before this sample (undefined while warming up). */
  baseline?: number;
  storm: boolean;
  /** How far above its baseline (or floor, without one) this rate is: the table's sort key. */
  score: number;
  info: CounterInfo;
  seconds: number;
}

export interface RateOptions {
  /** EWMA time constant, seconds. */
  tauS?: number;
  /** Rates needed before the baseline is trusted. */
  warmup?: number;
  /** A storm is at least this many times the baseline. */
  factor?: number;
}

interface State {
  value: number;
  at: number;
  /** Mutated in place: a tick allocates nothing per counter that did not move. */
  base: Baseline;
  info: CounterInfo;
}

/** The saved form of a sample key: always name|iface|qdisc. */
const storedKey = (sk: string) => (sk.includes('|') ? sk : `${sk}||`);

/** Marks a sample key that is not watched (decided once, skipped after). */
const UNWATCHED = null;

export class RateTracker {
  /** Namespace key → sample key → state (no per-tick string building for the namespace part). */
  private readonly state = new Map<string, Map<string, State | typeof UNWATCHED>>();
  private readonly tau: number;
  private readonly warmup: number;
  private readonly factor: number;

  constructor(o: RateOptions = {}, private readonly loaded: ReadonlyMap<string, Baseline> = new Map()) {
    this.tau = o.tauS ?? 300;
    this.warmup = o.warmup ?? 5;
    this.factor = o.factor ?? 10;
  }

  /** Baseline key: a namespace's name when it has one (inodes change across reboots). */
  static key(ns: { inode: number; name?: string }, s: Pick<CounterSample, 'name' | 'iface' | 'qdisc'>): string {
    return `${RateTracker.nsKey(ns)}|${sampleKey(s)}`;
  }

  private static nsKey(ns: { inode: number; name?: string }): string {
    return ns.name ? `name:${ns.name}` : `ino:${ns.inode}`;
  }

  /**
   * Fold one snapshot of a namespace in. Rows for counters seen before that
   * moved or storm — or every watched one with `all` (counters --all).
   */
  update(ns: { inode: number; name?: string }, samples: CounterSample[], atMs: number, all = true): CounterRow[] {
    const rows: CounterRow[] = [];
    const nk = RateTracker.nsKey(ns);
    let states = this.state.get(nk);
    if (!states) this.state.set(nk, (states = new Map()));
    let alphaFor = -1;
    let alpha = 0;
    for (const s of samples) {
      // Plain counters are keyed by their name alone (no string built per tick).
      const sk = s.iface === undefined && s.qdisc === undefined ? s.name : sampleKey(s);
      const st = states.get(sk);
      if (st === UNWATCHED) continue;
      if (!st) {
        const info = counterInfo(s.name, s.source);
        if (!info) {
          states.set(sk, UNWATCHED);
          continue;
        }
        const base = this.loaded.get(`${nk}|${storedKey(sk)}`);
        states.set(sk, { value: s.value, at: atMs, base: base ? { ...base } : { rate: 0, samples: 0 }, info });
        continue;
      }
      const info = st.info;
      const seconds = (atMs - st.at) / 1000;
      if (seconds <= 0) continue;
      // A counter that went down was reset (interface or qdisc recreated): start over.
      const delta = s.value >= st.value ? s.value - st.value : 0;
      const rate = delta / seconds;
      const trusted = st.base.samples >= this.warmup;
      const baseline = trusted ? st.base.rate : undefined;
      const storm = rate >= info.floor && (baseline === undefined || rate >= this.factor * baseline);
      if (all || delta > 0 || storm) {
        const score = baseline === undefined ? rate / info.floor : (rate - baseline) / Math.max(baseline, info.floor);
        rows.push({ netns: ns.inode, netnsName: ns.name, name: s.name, source: s.source, iface: s.iface, qdisc: s.qdisc, value: s.value, delta, rate, baseline, storm, score, info, seconds });
      }
      // A storm moves the baseline ten times more slowly, so a burst does not
      // become "normal" within seconds (a lasting change still does).
      if (seconds !== alphaFor) {
        alphaFor = seconds;
        alpha = 1 - Math.exp(-seconds / this.tau);
      }
      const a = storm ? alpha / 10 : alpha;
      if (st.base.samples === 0) st.base.rate = rate;
      else st.base.rate += a * (rate - st.base.rate);
      st.base.samples++;
      st.value = s.value;
      st.at = atMs;
    }
    return rows;
  }

  /** Current baselines (for the state directory). */
  baselines(): Map<string, Baseline> {
    const out = new Map(this.loaded);
    for (const [nk, states] of this.state) for (const [sk, st] of states) if (st && st.base.samples > 0) out.set(`${nk}|${storedKey(sk)}`, { ...st.base });
    return out;
  }

  /** Forget counters of namespaces that are gone (bounded memory). */
  forgetNamespace(ns: { inode: number; name?: string }): void {
    this.state.delete(RateTracker.nsKey(ns));
    this.state.delete(`ino:${ns.inode}`);
  }
}

/** Sort rows for display: storms first, then by how far above baseline. */
export function rankRows(rows: CounterRow[]): CounterRow[] {
  return [...rows].sort((a, b) => Number(b.storm) - Number(a.storm) || b.score - a.score || b.rate - a.rate || a.name.localeCompare(b.name));
}
