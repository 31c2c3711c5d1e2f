// `iptables-legacy-save -c` / `ip6tables-legacy-save -c` → Ruleset. Legacy
// iptables counts every rule and the policy of every built-in chain, so a
// policy drop is counted directly here (nftables has no policy counter).
import { computeHooks, type Backend, type Cond, type NfChain, type NfRule, type Ruleset, type Verdict } from './model.js';

const HOOKS: Record<string, string> = { PREROUTING: 'prerouting', INPUT: 'input', FORWARD: 'forward', OUTPUT: 'output', POSTROUTING: 'postrouting' };

/** Split a save line into words, honouring "double quotes" with \" escapes. */
export function shellWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQ = false;
  let any = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQ) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') inQ = false;
      else cur += c;
    } else if (c === '"') {
      inQ = true;
      any = true;
    } else if (c === ' ' || c === '\t') {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += c;
  }
  if (cur || any) out.push(cur);
  return out;
}

function portValues(v: string): Cond['values'] {
  return v.split(',').map((p) => {
    const [a, b] = p.split(':');
    return b !== undefined ? { range: [Number(a || 0), Number(b || 65535)] as [number, number] } : { eq: Number(a) };
  });
}

function addrValues(v: string): Cond['values'] {
  return v.split(',').map((a) => {
    const [ip, len] = a.split('/');
    return len !== undefined && /^\d+$/.test(len) ? { prefix: ip, len: Number(len) } : { eq: ip };
  });
}

export function parseIptablesSave(text: string, backend: Backend): Ruleset {
  const family = backend === 'ip6tables-legacy' ? 'ip6' : 'ip';
  const chains: NfChain[] = [];
  const rules: NfRule[] = [];
  const position = new Map<string, number>();
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    let m = /^:(\S+) (\S+) \[(\d+):(\d+)\]/.exec(line);
    if (m) {
      const builtIn = m[2] !== '-';
      chains.push({ backend, family, table, name: m[1], hook: builtIn ? HOOKS[m[1]] : undefined, policy: builtIn ? m[2].toLowerCase() : undefined, policyPackets: builtIn ? Number(m[3]) : undefined });
      continue;
    }
    m = /^\[(\d+):(\d+)\] -A (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const chain = m[3];
    const n = (position.get(`${table}|${chain}`) ?? 0) + 1;
    position.set(`${table}|${chain}`, n);
    const w = shellWords(m[4]);
    const conds: Cond[] = [];
    let verdict: Verdict = 'none';
    const targets: string[] = [];
    let comment: string | undefined;
    let negate = false;
    for (let i = 0; i < w.length; i++) {
      const a = w[i];
      const next = () => w[++i] ?? '';
      if (a === '!') {
        negate = true;
        continue;
      }
      switch (a) {
        case '-p': conds.push({ field: 'l4proto', negate, values: [{ eq: next() }] }); break;
        case '-s': conds.push({ field: 'saddr', negate, values: addrValues(next()) }); break;
        case '-d': conds.push({ field: 'daddr', negate, values: addrValues(next()) }); break;
        case '-i': conds.push({ field: 'iifname', negate, values: [{ glob: next().replace(/\+$/, '*') }] }); break;
        case '-o': conds.push({ field: 'oifname', negate, values: [{ glob: next().replace(/\+$/, '*') }] }); break;
        case '--dport': case '--destination-port': case '--dports': conds.push({ field: 'dport', negate, values: portValues(next()) }); break;
        case '--sport': case '--source-port': case '--sports': conds.push({ field: 'sport', negate, values: portValues(next()) }); break;
        case '--comment': comment = next(); break;
        case '-m': next(); break;
        case '-j': case '-g': {
          const t = next();
          const v = t.toUpperCase();
          if (v === 'DROP') verdict = 'drop';
          else if (v === 'REJECT') verdict = 'reject';
          else if (v === 'ACCEPT') verdict = 'accept';
          else if (v === 'RETURN') verdict = 'return';
          else if (v === 'NFQUEUE' || v === 'QUEUE') verdict = 'queue';
          else if (/^[A-Z]+$/.test(t) && t !== t.toLowerCase() && !chains.some((c) => c.table === table && c.name === t)) verdict = 'none'; // LOG, MARK, ...
          else {
            verdict = a === '-j' ? 'jump' : 'goto';
            targets.push(t);
          }
          // Target options follow; nothing more to match.
          i = w.length;
          break;
        }
        default:
          if (a.startsWith('--')) conds.push({ field: 'unknown', negate: false, values: [], what: a.slice(2) });
      }
      negate = false;
    }
    rules.push({ backend, family, table, chain, handle: String(n), comment, packets: Number(m[1]), verdict, targets, conds, hooks: [], text: `-A ${chain} ${m[4]}` });
  }
  const rs = { rules, chains };
  computeHooks(rs);
  return rs;
}
