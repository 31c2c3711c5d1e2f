// `nft -j list ruleset` → Ruleset. Conditions are read from the common match
// shapes (payload/meta fields against values, prefixes, ranges, anonymous and
// named sets); anything else becomes an "unknown" condition (a maybe).
import { computeHooks, type Cond, type NfChain, type NfRule, type Ruleset, type Verdict } from './model.js';

type J = Record<string, any>;

const PAYLOAD_FIELDS: Record<string, Cond['field']> = { saddr: 'saddr', daddr: 'daddr', sport: 'sport', dport: 'dport' };
const L4 = new Set(['tcp', 'udp', 'sctp', 'udplite', 'dccp', 'icmp', 'icmpv6', 'ipv6-icmp', 'esp', 'ah', 'gre']);

function valueOf(v: unknown, sets: Map<string, unknown[]>): Cond['values'] | undefined {
  if (typeof v === 'number' || typeof v === 'string') {
    if (typeof v === 'string' && v.startsWith('@')) {
      const elems = sets.get(v.slice(1));
      if (!elems) return undefined;
      const out: Cond['values'] = [];
      for (const e of elems) {
        const x = valueOf(e, sets);
        if (!x) return undefined;
        out.push(...x);
      }
      return out;
    }
    if (typeof v === 'string' && v.endsWith('*')) return [{ glob: v }];
    return [{ eq: v }];
  }
  if (v && typeof v === 'object') {
    const o = v as J;
    if (o.prefix && typeof o.prefix.addr === 'string') return [{ prefix: o.prefix.addr, len: Number(o.prefix.len) }];
    if (Array.isArray(o.range) && o.range.length === 2 && typeof o.range[0] === 'number') return [{ range: [o.range[0], o.range[1]] }];
    if (Array.isArray(o.set)) {
      const out: Cond['values'] = [];
      for (const e of o.set) {
        const x = valueOf(e, sets);
        if (!x) return undefined;
        out.push(...x);
      }
      return out;
    }
    if (o.elem && 'val' in o.elem) return valueOf(o.elem.val, sets);
  }
  return undefined;
}

function condOf(m: J, sets: Map<string, unknown[]>): Cond[] {
  const op = m.op ?? '==';
  const negate = op === '!=';
  if (op !== '==' && op !== '!=' && op !== 'in') return [{ field: 'unknown', negate: false, values: [], what: `${op} comparison` }];
  const left = m.left as J;
  const values = valueOf(m.right, sets);
  const unknown = (what: string): Cond[] => [{ field: 'unknown', negate: false, values: [], what }];
  if (left?.payload) {
    const { protocol, field } = left.payload as { protocol?: string; field?: string };
    const f = field ? PAYLOAD_FIELDS[field] : undefined;
    if (!f || !values) return unknown(`${protocol ?? 'payload'} ${field ?? ''}`.trim());
    const out: Cond[] = [{ field: f, negate, values }];
    // "udp dport 53" also means "is UDP"; "ip saddr" means IPv4 (th = any transport).
    if (protocol && L4.has(protocol)) out.push({ field: 'l4proto', negate: false, values: [{ eq: protocol }] });
    if (protocol === 'ip') out.push({ field: 'l3', negate: false, values: [{ eq: 'ipv4' }] });
    if (protocol === 'ip6') out.push({ field: 'l3', negate: false, values: [{ eq: 'ipv6' }] });
    return out;
  }
  if (left?.meta) {
    const key = left.meta.key as string;
    if (!values) return unknown(`meta ${key}`);
    if (key === 'l4proto') return [{ field: 'l4proto', negate, values }];
    if (key === 'nfproto') return [{ field: 'l3', negate, values }];
    if (key === 'iifname') return [{ field: 'iifname', negate, values }];
    if (key === 'oifname') return [{ field: 'oifname', negate, values }];
    return unknown(`meta ${key}`);
  }
  if (left?.ct) return unknown(`ct ${left.ct.key ?? ''}`.trim());
  return unknown(Object.keys(left ?? {})[0] ?? 'expression');
}

function walkTargets(x: unknown, out: string[]): void {
  if (!x || typeof x !== 'object') return;
  if (Array.isArray(x)) {
    for (const e of x) walkTargets(e, out);
    return;
  }
  const o = x as J;
  for (const k of ['jump', 'goto']) if (o[k] && typeof o[k].target === 'string') out.push(o[k].target);
  for (const v of Object.values(o)) walkTargets(v, out);
}

const hasDropInside = (x: unknown): boolean => JSON.stringify(x ?? null).includes('"drop"');

// Rule text from the JSON, as nft prints the common statements, so naming a
// rule needs no second listing (10,000 rules: a few hundred ms each). Any
// statement not handled here gives undefined: the text listing fills it then.
const BARE_META = new Set(['iifname', 'oifname', 'iif', 'oif', 'mark', 'skuid', 'skgid']);

function renderValue(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v.startsWith('@') || /^[A-Za-z0-9_.:/-]+$/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) {
    const parts = v.map(renderValue);
    return parts.some((x) => x === undefined) ? undefined : parts.join(',');
  }
  if (v && typeof v === 'object') {
    const o = v as J;
    if (o.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
    if (Array.isArray(o.range)) return `${renderValue(o.range[0])}-${renderValue(o.range[1])}`;
    if (Array.isArray(o.set)) {
      const parts = o.set.map(renderValue);
      return parts.some((x: string | undefined) => x === undefined) ? undefined : `{ ${parts.join(', ')} }`;
    }
  }
  return undefined;
}

function renderLeft(l: J): string | undefined {
  if (l?.payload && l.payload.protocol && l.payload.field) return `${l.payload.protocol} ${l.payload.field}`;
  if (l?.meta?.key) return BARE_META.has(l.meta.key) ? l.meta.key : `meta ${l.meta.key}`;
  if (l?.ct?.key && !l.ct.dir) return `ct ${l.ct.key}`;
  return undefined;
}

const quoteIf = (left: string, v: string) => (/(ifname)$/.test(left) && !v.startsWith('"') && !v.startsWith('{') ? `"${v}"` : v);

export function renderRule(expr: J[], comment?: string): string | undefined {
  const out: string[] = [];
  for (const e of expr) {
    if (e.match) {
      const left = renderLeft(e.match.left);
      const right = renderValue(e.match.right);
      if (!left || right === undefined) return undefined;
      const op = e.match.op === '==' || e.match.op === 'in' ? '' : `${e.match.op} `;
      out.push(`${left} ${op}${quoteIf(left, right)}`);
    } else if ('counter' in e) out.push(typeof e.counter === 'string' ? `counter name ${JSON.stringify(e.counter)}` : 'counter');
    else if ('drop' in e) out.push('drop');
    else if ('accept' in e) out.push('accept');
    else if ('return' in e) out.push('return');
    else if (e.jump?.target) out.push(`jump ${e.jump.target}`);
    else if (e.goto?.target) out.push(`goto ${e.goto.target}`);
    else if ('reject' in e && e.reject === null) out.push('reject');
    else return undefined;
  }
  if (comment !== undefined) out.push(`comment ${JSON.stringify(comment)}`);
  return out.join(' ');
}

export function parseNftJson(json: unknown): Ruleset {
  const items = ((json as J)?.nftables ?? []) as J[];
  const sets = new Map<string, unknown[]>();
  const named = new Map<string, number>();
  for (const it of items) {
    if (it.set && Array.isArray(it.set.elem)) sets.set(it.set.name, it.set.elem);
    if (it.counter && typeof it.counter.name === 'string') named.set(`${it.counter.family}|${it.counter.table}|${it.counter.name}`, Number(it.counter.packets ?? 0));
  }
  const chains: NfChain[] = [];
  const rules: NfRule[] = [];
  for (const it of items) {
    if (it.chain) {
      const c = it.chain as J;
      chains.push({ backend: 'nft', family: c.family, table: c.table, name: c.name, hook: c.hook, prio: typeof c.prio === 'number' ? c.prio : undefined, policy: c.policy });
      continue;
    }
    if (!it.rule) continue;
    const r = it.rule as J;
    let packets: number | undefined;
    let verdict: Verdict = 'none';
    const conds: Cond[] = [];
    const targets: string[] = [];
    for (const e of (r.expr ?? []) as J[]) {
      if (e.match) conds.push(...condOf(e.match, sets));
      else if ('counter' in e) {
        if (e.counter && typeof e.counter === 'object' && 'packets' in e.counter) packets = Number(e.counter.packets);
        else if (typeof e.counter === 'string') packets = named.get(`${r.family}|${r.table}|${e.counter}`);
      } else if ('drop' in e) verdict = 'drop';
      else if ('reject' in e) verdict = 'reject';
      else if ('accept' in e) verdict = 'accept';
      else if ('return' in e) verdict = 'return';
      else if ('queue' in e) verdict = 'queue';
      else if (e.jump) verdict = 'jump';
      else if (e.goto) verdict = 'goto';
      else if (e.vmap) verdict = hasDropInside(e.vmap) ? 'maybe-drop' : verdict;
      else if (e.xt) conds.push({ field: 'unknown', negate: false, values: [], what: `xt ${e.xt.name ?? ''}`.trim() });
      else if (!('log' in e) && !('limit' in e) && !('mangle' in e) && !('notrack' in e) && !('ct' in e && e.ct?.key === undefined)) {
        // set/meter/limit statements and others: may decide, treat as unknown.
        if ('limit' in e || 'meter' in e || 'set' in e) conds.push({ field: 'unknown', negate: false, values: [], what: Object.keys(e)[0] });
      }
    }
    walkTargets(r.expr, targets);
    const comment = typeof r.comment === 'string' ? r.comment : undefined;
    rules.push({
      backend: 'nft', family: r.family, table: r.table, chain: r.chain, handle: String(r.handle),
      comment, packets, verdict, targets, conds, hooks: [], text: renderRule((r.expr ?? []) as J[], comment),
    });
  }
  const rs = { rules, chains };
  computeHooks(rs);
  return rs;
}

/**
 * `nft -a list ruleset` text → "family table chain handle" → rule text (the
 * line without its "# handle N" suffix). Used to show candidates as the user
 * wrote them.
 */
export function parseNftText(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let table: string | undefined;
  let chain: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^table (\S+) (\S+) \{/.exec(line);
    if (m) {
      table = `${m[1]}|${m[2]}`;
      chain = undefined;
      continue;
    }
    m = /^chain (\S+) \{/.exec(line);
    if (m) {
      chain = m[1];
      continue;
    }
    m = /^(.*\S)\s+# handle (\d+)$/.exec(line);
    // Counter values are a snapshot: show the rule as written ("counter").
    // Declarations ("counter name {", "set s {") open a block; rules do not.
    if (m && table && chain && !m[1].endsWith('{')) out.set(`${table}|${chain}|${m[2]}`, m[1].replace(/\bcounter packets \d+ bytes \d+/g, 'counter'));
  }
  return out;
}
