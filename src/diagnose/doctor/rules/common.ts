// Helpers every rule uses: roll a set of drop/TCP groups up into the affected
// flow (the top one, with distinct-flow/source counts, so a flood from 60 k
// source ports is one line), drop evidence rows, counter evidence rows.
import type { Ctx } from '../context.js';
import type { AffectedFlow, Evidence, Finding } from '../finding.js';
import { severityOf } from '../finding.js';
import type { CounterStat, DropGroup, Ep, TcpGroup } from '../observe.js';
import { groupBy } from '../../util/group.js';

export interface Rollup {
  total: number;
  flows: number;
  sources: number;
  sourcePorts: number;
  flow: AffectedFlow;
  reasons: string[];
}

const same = <T>(xs: T[]): T | undefined => (xs.length > 0 && xs.every((x) => x === xs[0]) ? xs[0] : undefined);

/** The affected flow of a set of groups: fields all groups share; the rest left out. */
export function rollup(ctx: Ctx, groups: Array<DropGroup | TcpGroup>): Rollup {
  const sorted = [...groups].sort((a, b) => b.count - a.count);
  const top = sorted[0];
  // Counter-only findings have no traced flow: the caller sets where it happened.
  if (!top) return { total: 0, flows: 0, sources: 0, sourcePorts: 0, flow: { netns: 0, src: {}, dst: {} }, reasons: [] };
  const total = sorted.reduce((s, g) => s + g.count, 0);
  const srcIps = new Set(sorted.map((g) => g.src.ip ?? '*'));
  const srcPorts = new Set(sorted.map((g) => `${g.src.ip}|${g.src.port}`));
  const pick = (f: (g: DropGroup | TcpGroup) => string | number | undefined) => same(sorted.map(f));
  const src: Ep = { ip: pick((g) => g.src.ip) as string | undefined, port: pick((g) => g.src.port) as number | undefined };
  const dst: Ep = { ip: pick((g) => g.dst.ip) as string | undefined, port: pick((g) => g.dst.port) as number | undefined };
  const netns = top.netns;
  const isDrop = 'reason' in top;
  const flow: AffectedFlow = {
    netns, netnsName: ctx.ns(netns).name,
    l3: pick((g) => g.l3) as AffectedFlow['l3'],
    transport: isDrop ? (pick((g) => (g as DropGroup).transport) as string | undefined) : 'tcp',
    src, dst,
    direction: isDrop ? (pick((g) => (g as DropGroup).direction) as string | undefined) ?? (top as DropGroup).direction : (top as TcpGroup).action.startsWith('tcp-incoming') ? 'ingress' : 'egress',
    path: isDrop ? (pick((g) => (g as DropGroup).path) as string | undefined) ?? (top as DropGroup).path : (top as TcpGroup).action.startsWith('tcp-incoming') ? 'local-in' : 'local-out',
  };
  const reasonCount = new Map<string, number>();
  for (const g of sorted) {
    const r = 'reason' in g ? g.reason : g.type;
    reasonCount.set(r, (reasonCount.get(r) ?? 0) + g.count);
  }
  return {
    total, flows: sorted.length, sources: srcIps.size, sourcePorts: srcPorts.size, flow,
    reasons: [...reasonCount].sort((a, b) => b[1] - a[1]).map(([r]) => r),
  };
}

/** One evidence row per reason × location, largest first. */
export function dropEvidence(ctx: Ctx, groups: DropGroup[], limit = 4): Evidence[] {
  const by = new Map<string, { reason: string; location?: string; count: number }>();
  for (const g of groups) {
    const k = `${g.reason}|${g.location ?? ''}`;
    const e = by.get(k) ?? { reason: g.reason, location: g.location, count: 0 };
    e.count += g.count;
    by.set(k, e);
  }
  return [...by.values()].sort((a, b) => b.count - a.count).slice(0, limit).map((e) => ({
    kind: 'drops' as const, name: e.reason, value: e.count, rate: round(e.count / ctx.seconds), ...(e.location ? { detail: `dropped at ${e.location}` } : {}),
  }));
}

export function counterEvidence(ctx: Ctx, cs: CounterStat[]): Evidence[] {
  return cs.filter((c) => c.delta > 0).sort((a, b) => b.delta - a.delta).slice(0, 6).map((c) => ({
    kind: 'counter' as const,
    name: c.name + (c.iface ? ` (${c.iface}${c.qdisc ? ` ${c.qdisc}` : ''})` : ''),
    value: c.delta, delta: c.delta, rate: round(c.delta / ctx.seconds),
    detail: c.info.meaning + (c.storm ? ` — storm: peak ${round(c.peakRate)}/s${c.baseline !== undefined ? ` vs baseline ${round(c.baseline)}/s` : ` (floor ${c.info.floor}/s, no history)`}` : ''),
  }));
}

export function configEvidence(name: string, value: string | undefined, detail?: string): Evidence[] {
  return value === undefined ? [] : [{ kind: 'config', name, value, ...(detail ? { detail } : {}) }];
}

export const round = (n: number) => Math.round(n * 100) / 100;

export function tcpEvidence(ctx: Ctx, groups: TcpGroup[], label: string): Evidence[] {
  const by = new Map<string, number>();
  for (const g of groups) by.set(g.type, (by.get(g.type) ?? 0) + g.count);
  return [...by].sort((a, b) => b[1] - a[1]).map(([type, n]) => ({
    kind: (groups[0]?.action.startsWith('tcp-incoming') ? 'incoming' : 'retransmits') as Evidence['kind'],
    name: `${label} ${type}`, value: n, rate: round(n / ctx.seconds),
  }));
}

/** Build and add a finding for drop groups; claims them. */
export function addDropFinding(ctx: Ctx, groups: DropGroup[], f: Omit<Finding, 'impact' | 'lost' | 'severity' | 'flows' | 'flow' | 'summary'> & {
  summary: (r: Rollup) => string;
  minSeverity?: Finding['severity'];
  maxSeverity?: Finding['severity'];
  /** Packets lost when more than the traced drops (counter-only parts). */
  lost?: number;
}): Finding {
  const r = rollup(ctx, groups);
  const lost = Math.max(f.lost ?? 0, r.total);
  const impact = lost / ctx.seconds;
  const out: Finding = {
    cause: f.cause, severity: severityOf(impact, f.minSeverity, f.maxSeverity), impact, lost,
    summary: f.summary(r), explanation: f.explanation, evidence: f.evidence, check: f.check, fix: f.fix, confidence: f.confidence,
    flow: r.flow, flows: r.flows, sources: r.sources, sourcePorts: r.sourcePorts, reasons: f.reasons ?? r.reasons, rule: f.rule, noise: f.noise,
  };
  ctx.claim(groups);
  ctx.add(out);
  return out;
}

/** "12,345" */
export const n = (x: number) => Math.round(x).toLocaleString('en-US');

/** Split groups by a key, biggest first; beyond `max` keys the rest go together. */
export function splitBy<T extends { count: number }>(groups: T[], key: (g: T) => string, max = 6): T[][] {
  const parts = [...groupBy(groups, key).values()].sort((a, b) => sum(b) - sum(a));
  if (parts.length <= max) return parts;
  return [...parts.slice(0, max - 1), parts.slice(max - 1).flat()];
}

export const sum = (gs: Array<{ count: number }>) => gs.reduce((s, g) => s + g.count, 0);

/** "udp * → 10.0.0.2:4300, 60 k source ports" style flow phrase. */
export function floodPhrase(r: Rollup): string {
  const parts: string[] = [];
  if (r.flows > 1) {
    if (r.sources > 1) parts.push(`${n(r.sources)} sources`);
    else if (r.sourcePorts > 1) parts.push(`${n(r.sourcePorts)} source ports`);
    else parts.push(`${n(r.flows)} flows`);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Service key of a drop: namespace, direction, transport, destination. */
export const serviceKey = (g: DropGroup) => `${g.netns}|${g.direction}|${g.path}|${g.transport}|${g.dst.ip}|${g.dst.port}`;
