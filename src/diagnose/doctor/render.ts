// Findings as text for a terminal. Every string that can come from the
// kernel or the system (interface/namespace names, rule comments and text,
// process names) goes through escapeForTerminal.
import { escapeForTerminal as esc } from '../../text/escape.js';
import { flowText, type Finding } from './finding.js';

const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : String(Math.round(x * 100) / 100));

export function renderFindings(fs: Finding[], header: string, o: { color?: boolean; width?: number } = {}): string {
  const b = (s: string) => (o.color ? `\x1b[1m${s}\x1b[0m` : s);
  const sev: Record<string, string> = { critical: '\x1b[41;97m', high: '\x1b[31m', medium: '\x1b[33m', low: '\x1b[36m', info: '\x1b[2m' };
  const tag = (s: string) => (o.color ? `${sev[s] ?? ''}${s.toUpperCase()}\x1b[0m` : s.toUpperCase());
  const out: string[] = [b(esc(header)), ''];
  if (fs.length === 0) out.push('No loss found: no drops, retransmits or loss counters moved in the window.');
  fs.forEach((f, i) => {
    out.push(`${i + 1}. [${tag(f.severity)}] ${b(f.cause)} — ${esc(f.summary)}`);
    if (f.noise) {
      for (const e of f.evidence) out.push(`     ${esc(e.name)} ${e.value}${e.detail ? ` (${esc(e.detail)})` : ''}`);
      out.push('');
      return;
    }
    if (f.flow && (f.flow.src.ip !== undefined || f.flow.dst.ip !== undefined || f.flow.dst.port !== undefined)) {
      const where = f.flow.netnsName ? `${f.flow.netnsName} (netns ${f.flow.netns})` : `netns ${f.flow.netns}`;
      out.push(`   flow:  ${esc(flowText(f.flow))}  ${f.flow.direction ?? ''}${f.flow.path ? `/${f.flow.path}` : ''}  in ${esc(where)}${f.flows > 1 ? `  (+${f.flows - 1} more flows)` : ''}`);
    } else if (f.flow) out.push(`   where: ${esc(f.flow.netnsName ? `${f.flow.netnsName} (netns ${f.flow.netns})` : `netns ${f.flow.netns}`)}`);
    out.push(`   rate:  ${fmt(f.impact)}/s, ${fmt(f.lost)} in the window   confidence: ${f.confidence}`);
    out.push(`   why:   ${esc(f.explanation)}`);
    if (f.evidence.length) out.push('   evidence:');
    for (const e of f.evidence) {
      const num = typeof e.value === 'number' ? fmt(e.value) : esc(String(e.value));
      out.push(`     ${e.kind.padEnd(11)} ${esc(e.name)}: ${num}${e.rate !== undefined ? ` (${fmt(e.rate)}/s)` : ''}${e.detail ? ` — ${esc(e.detail)}` : ''}`);
    }
    if (f.check.length) out.push('   check:');
    for (const c of f.check) out.push(`     $ ${esc(c)}`);
    if (f.fix.length) out.push('   fix:');
    for (const x of f.fix) out.push(`     - ${esc(x.change)}${x.caveat ? `\n       caveat: ${esc(x.caveat)}` : ''}`);
    out.push('');
  });
  return out.join('\n') + '\n';
}
