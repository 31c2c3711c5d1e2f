// The `counters` table (pure: rows in, lines out). Every kernel-derived name
// (interface, namespace, qdisc) is escaped for the terminal.
import { escapeForTerminal } from '../../text/escape.js';
import type { CounterRow } from './rates.js';

function fit(s: string, w: number): string {
  const c = [...s];
  return c.length > w ? c.slice(0, Math.max(0, w - 1)).join('') + '…' : s + ' '.repeat(w - c.length);
}

const num = (n: number | undefined, w: number) => (n === undefined ? '-' : n >= 100 ? String(Math.round(n)) : n.toFixed(n >= 10 ? 1 : 2)).padStart(w);

export function renderCounterTable(rows: CounterRow[], cols: number, maxRows: number): string[] {
  const head = `${fit('NETNS', 22)} ${fit('COUNTER', 30)} ${fit('IFACE', 10)} ${'RATE/s'.padStart(9)} ${'BASE/s'.padStart(9)} ${'DELTA'.padStart(9)} ${fit('', 5)} MEANING`;
  const lines = [fit(head, cols)];
  for (const r of rows.slice(0, maxRows)) {
    const ns = r.netnsName ? `${r.netnsName}` : String(r.netns);
    const iface = r.iface ? r.iface + (r.qdisc ? ` ${r.qdisc}` : '') : '';
    const line = `${fit(escapeForTerminal(ns), 22)} ${fit(escapeForTerminal(r.name), 30)} ${fit(escapeForTerminal(iface), 10)} ${num(r.rate, 9)} ${num(r.baseline, 9)} ${String(r.delta).padStart(9)} ${fit(r.storm ? 'STORM' : '', 5)} ${r.info.meaning}`;
    lines.push(fit(line, cols));
  }
  if (rows.length === 0) lines.push('(no loss counter moved)');
  return lines;
}
