// A finding: one cause with its evidence, checks, fixes and the flows it
// affects; and its ECS record (event.dataset droptrace.findings, design.md).
import { createHash } from 'node:crypto';
import type { EcsRecord } from '../../record/ecs.js';
import type { Ep } from './observe.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export const SEVERITIES: Severity[] = ['critical', 'high', 'medium', 'low', 'info'];
export const severityRank = (s: Severity) => SEVERITIES.length - SEVERITIES.indexOf(s);

export interface Evidence {
  kind: 'drops' | 'counter' | 'config' | 'rule' | 'retransmits' | 'incoming' | 'socket' | 'route' | 'neighbour' | 'qdisc' | 'tool';
  name: string;
  value: number | string;
  delta?: number;
  rate?: number;
  detail?: string;
}

export interface Fix {
  change: string;
  caveat: string;
}

export interface AffectedFlow {
  netns: number;
  netnsName?: string;
  l3?: 'ipv4' | 'ipv6';
  transport?: string;
  src: Ep;
  dst: Ep;
  direction?: string;
  path?: string;
}

export interface RuleRef {
  ruleset: string;
  category: string;
  id: string;
  name?: string;
  description?: string;
}

export interface Finding {
  cause: string;
  severity: Severity;
  /** Packets (or events) per second attributed to this cause in the window. */
  impact: number;
  /** Packets (events) over the window. */
  lost: number;
  summary: string;
  explanation: string;
  evidence: Evidence[];
  check: string[];
  fix: Fix[];
  confidence: 'high' | 'medium' | 'low';
  flow?: AffectedFlow;
  /** Distinct flows affected (the top one is in `flow`). */
  flows: number;
  sources?: number;
  sourcePorts?: number;
  rule?: RuleRef;
  /** Reasons behind it (kernel names), most frequent first. */
  reasons?: string[];
  /** Ranked last and collapsed. */
  noise?: boolean;
}

/** Severity from the loss rate, within a cause's bounds. */
export function severityOf(rate: number, min: Severity = 'low', max: Severity = 'critical'): Severity {
  const s: Severity = rate >= 1000 ? 'critical' : rate >= 100 ? 'high' : rate >= 5 ? 'medium' : 'low';
  if (severityRank(s) < severityRank(min)) return min;
  if (severityRank(s) > severityRank(max)) return max;
  return s;
}

/** Quote for a POSIX shell when needed: check/fix commands are meant to be pasted. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_.:/@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command prefix that runs something inside a namespace. */
export function inNs(ns: { self?: boolean; name?: string; handle?: string; memberPid?: number }): string {
  if (ns.self) return '';
  if (ns.name) return `ip netns exec ${shq(ns.name)} `;
  if (ns.memberPid !== undefined) return `nsenter -t ${ns.memberPid} -n `;
  return ns.handle ? `nsenter --net=${shq(ns.handle)} ` : '';
}

export function epText(e: Ep | undefined): string {
  if (!e || e.ip === undefined) return '*';
  const h = e.ip.includes(':') ? `[${e.ip}]` : e.ip;
  return e.port !== undefined ? `${h}:${e.port}` : h;
}

export function flowText(f: AffectedFlow | undefined): string {
  if (!f) return '';
  return `${f.transport ?? 'ip'} ${epText(f.src)} → ${epText(f.dst)}`;
}

const IANA: Record<string, string> = { tcp: '6', udp: '17', icmp: '1', 'ipv6-icmp': '58', sctp: '132', udplite: '136' };

export function findingRecord(f: Finding, o: { host: string; startMs: number; endMs: number; windowS: number }): EcsRecord {
  const end = new Date(o.endMs).toISOString();
  const flowKey = f.flow ? `${f.flow.netns}|${f.flow.transport}|${epText(f.flow.src)}|${epText(f.flow.dst)}|${f.flow.direction}` : '';
  const id = createHash('sha1').update(`${f.cause}|${flowKey}|${f.rule?.ruleset ?? ''}|${f.rule?.category ?? ''}|${f.rule?.id ?? ''}`).digest('base64url').slice(0, 16);
  const rec: Record<string, unknown> = {
    '@timestamp': end,
    event: {
      kind: f.severity === 'info' ? 'event' : 'alert', category: ['network'], type: ['info'], action: 'diagnosis', dataset: 'droptrace.findings',
      start: new Date(o.startMs).toISOString(), end, ...(f.reasons?.length ? { reason: f.reasons[0] } : {}),
      severity: severityRank(f.severity),
    },
    message: f.summary,
  };
  if (f.flow) {
    const network: Record<string, unknown> = {};
    if (f.flow.l3) network.type = f.flow.l3;
    if (f.flow.transport) {
      network.transport = f.flow.transport;
      if (IANA[f.flow.transport]) network.iana_number = IANA[f.flow.transport];
    }
    if (f.flow.direction) network.direction = f.flow.direction;
    rec.network = network;
    if (f.flow.src.ip !== undefined) rec.source = { ip: f.flow.src.ip, ...(f.flow.src.port !== undefined ? { port: f.flow.src.port } : {}) };
    if (f.flow.dst.ip !== undefined) rec.destination = { ip: f.flow.dst.ip, ...(f.flow.dst.port !== undefined ? { port: f.flow.dst.port } : {}) };
  }
  if (f.rule) rec.rule = { ...f.rule };
  rec.host = { name: o.host };
  const finding: Record<string, unknown> = {
    cause: f.cause, severity: f.severity, impact: Math.round(f.impact * 1000) / 1000, lost: f.lost,
    summary: f.summary, explanation: f.explanation, evidence: f.evidence, check: f.check, fix: f.fix, confidence: f.confidence,
    flows: f.flows, window_s: Math.round(o.windowS * 1000) / 1000,
  };
  if (f.sources !== undefined) finding.sources = f.sources;
  if (f.sourcePorts !== undefined) finding.source_ports = f.sourcePorts;
  if (f.reasons?.length) finding.reasons = f.reasons;
  if (f.noise) finding.noise = true;
  rec.droptrace = {
    id: `${o.host}-finding-${id}-${o.endMs}`,
    ...(f.flow ? { netns: { inode: f.flow.netns, ...(f.flow.netnsName ? { name: f.flow.netnsName } : {}) } } : {}),
    ...(f.flow?.path ? { path: f.flow.path } : {}),
    finding,
  };
  return rec as unknown as EcsRecord;
}
