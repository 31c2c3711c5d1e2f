// Compile validated filters to bpftrace predicates, one per filter kind a
// signal's probe.json names (drop, tcp-sock). Only integers rendered by `n()`
// and the fixed variable names the probes define ($l3 $l4 $s4 $d4 $s6a..$d6d
// $sport $dport $netns $ifindex $iif $reason) appear in the output, and
// `assertSafePredicate` re-checks that before the text goes anywhere. The
// values come validated from src/filters (user input) and the session (names
// resolved to numbers); this module only renders numbers.
import { UsageError } from '../errors.js';
import type { FilterKind } from './catalog.js';

/** A network: its address bytes (masked) and prefix length. */
export interface Cidr {
  family: 4 | 6;
  bytes: number[];
  prefix: number;
}

/** Filters with names already turned into numbers by the collector. */
export interface ResolvedFilters {
  hosts: Cidr[];
  ports: Array<{ from: number; to: number }>;
  protos: number[];
  netns: number[];
  ifindexes: number[];
  reasonCodes: number[];
  excludeReasonCodes: number[];
}

function n(x: number): string {
  if (!Number.isSafeInteger(x) || x < 0) throw new Error(`internal: refusing to render ${x} into a probe`);
  return String(x);
}

// Words as the probe reads them: little-endian loads of network-order bytes.
function le32(b: number[], at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function maskBytes(prefix: number, len: number): number[] {
  return Array.from({ length: len }, (_, i) => (0xff << (8 - Math.max(0, Math.min(8, prefix - i * 8)))) & 0xff);
}

function cidrMatch(c: Cidr, side: 's' | 'd'): string {
  if (c.family === 4) {
    const m = le32(maskBytes(c.prefix, 4), 0);
    return `(($${side}4 & ${n(m)}) == ${n(le32(c.bytes, 0))})`;
  }
  const mask = maskBytes(c.prefix, 16);
  const parts: string[] = [];
  ['a', 'b', 'c', 'd'].forEach((w, i) => {
    const m = le32(mask, i * 4);
    if (m !== 0) parts.push(`(($${side}6${w} & ${n(m)}) == ${n(le32(c.bytes, i * 4))})`);
  });
  return parts.length ? `(${parts.join(' && ')})` : '1';
}

function anyOf(items: string[]): string {
  return items.length === 1 ? items[0] : `(${items.join(' || ')})`;
}

export type ProbeKind = FilterKind;

/**
 * Predicate for one probe kind, or `null` when the filters exclude that probe
 * entirely (e.g. --filter-proto udp excludes TCP socket probes; interface and
 * reason filters only make sense for drops).
 */
export function compilePredicate(f: ResolvedFilters, kind: ProbeKind): string | null {
  const clauses: string[] = [];
  if (f.hosts.length) {
    clauses.push(anyOf(f.hosts.map((c) => `($l3 == ${c.family} && (${cidrMatch(c, 's')} || ${cidrMatch(c, 'd')}))`)));
  }
  if (f.ports.length) {
    clauses.push(anyOf(f.ports.map((p) => (p.from === p.to
      ? `($sport == ${n(p.from)} || $dport == ${n(p.from)})`
      : `(($sport >= ${n(p.from)} && $sport <= ${n(p.to)}) || ($dport >= ${n(p.from)} && $dport <= ${n(p.to)}))`))));
  }
  if (f.protos.length) {
    if (kind === 'tcp-sock' && !f.protos.includes(6)) return null;
    if (kind === 'drop') clauses.push(anyOf(f.protos.map((p) => `$l4 == ${n(p)}`)));
  }
  if (f.netns.length) clauses.push(anyOf(f.netns.map((x) => `$netns == ${n(x)}`)));
  if (f.ifindexes.length) {
    if (kind === 'tcp-sock') return null;
    clauses.push(anyOf(f.ifindexes.map((i) => `($ifindex == ${n(i)} || $iif == ${n(i)})`)));
  }
  if (f.reasonCodes.length) {
    if (kind === 'tcp-sock') return null;
    clauses.push(anyOf(f.reasonCodes.map((r) => `$reason == ${n(r)}`)));
  }
  if (f.excludeReasonCodes.length && kind === 'drop') {
    clauses.push(f.excludeReasonCodes.map((r) => `$reason != ${n(r)}`).join(' && '));
  }
  const pred = clauses.length ? clauses.map((c) => `(${c})`).join(' && ') : '1';
  assertSafePredicate(pred);
  return pred;
}

const SAFE = /^[0-9a-z$ ()&|=!<>]*$/;
// The alphabet alone would still let `exit()` or `$reason = 0` through, so
// every token must also be one of the probes' fixed variables, a decimal
// integer or an operator.
const SAFE_VARS = new Set(['$l3', '$l4', '$s4', '$d4', '$s6a', '$s6b', '$s6c', '$s6d', '$d6a', '$d6b', '$d6c', '$d6d', '$sport', '$dport', '$netns', '$ifindex', '$iif', '$reason']);
const SAFE_OPS = new Set(['&&', '||', '==', '!=', '>=', '<=', '<', '>', '&']);

export function assertSafePredicate(pred: string): void {
  const tokensOk = () => pred.split(/[\s()]+/).every((t) => t === '' || SAFE_VARS.has(t) || SAFE_OPS.has(t) || /^\d{1,20}$/.test(t));
  if (!SAFE.test(pred) || pred.length > 60_000 || !tokensOk()) throw new UsageError('internal: generated predicate failed the safety check');
}
