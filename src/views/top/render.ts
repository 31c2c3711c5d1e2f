// Render TopState as a full screen of text (pure: state in, lines out).
import { escapeForTerminal } from '../../text/escape.js';
import { ROLLUP_VIEWS, type TopState, type View, type SortKey } from './top-state.js';
import { COLUMNS } from '../actions.js';

export interface Screen {
  rows: number;
  cols: number;
  color: boolean;
}

const VIEW_TITLE: Record<View, string> = {
  flows: 'FLOW (lost packets: source → destination)', reasons: 'REASON / TYPE', locations: 'KERNEL LOCATION',
  services: 'SERVICE (destination, per reason)', sources: 'SOURCE ADDRESS', prefixes: 'SOURCE PREFIX',
};

function fit(s: string, w: number): string {
  const chars = [...s];
  return chars.length > w ? chars.slice(0, Math.max(0, w - 1)).join('') + '…' : s + ' '.repeat(w - chars.length);
}

const num = (n: number, w: number) => String(n).padStart(w);

export function renderTop(st: TopState, view: View, sort: SortKey, scr: Screen, status: string): string[] {
  const b = (s: string) => (scr.color ? `\x1b[1m${s}\x1b[0m` : s);
  const rev = (s: string) => (scr.color ? `\x1b[7m${s}\x1b[0m` : s);
  const lines: string[] = [];
  lines.push(b(fit(`droptrace top — ${status}`, scr.cols)));
  lines.push(fit(`windows ${st.windows}  last ${st.lastWindowEnd.slice(11, 19) || '-'}  lost events ${st.lost}  kernel-skipped ${st.kernelMissed}  unattributed ${st.unattributed}  suppressed ${st.suppressed}  overflow ${st.overflow}`, scr.cols));
  lines.push(fit(`view: [f]lows [r]easons [l]ocations ser[v]ices s[o]urces [p]refixes   sort: [s] ${sort}   [q]uit`, scr.cols));
  const rollup = ROLLUP_VIEWS.has(view);
  // Each column's title and the sort key that marks it.
  const numCols: Array<[string, string]> = [...COLUMNS.map((c): [string, string] => [c.title, c.key]), ['TOTAL', 'total'], ['LAST', 'last'], ...(rollup ? [['FLOWS', 'flows'] as [string, string]] : [])];
  const fixed = 1 + 8 + numCols.length * 9 + 1 + 21;
  const labelW = Math.max(20, scr.cols - fixed);
  const header = `${fit(VIEW_TITLE[view], labelW)} ${fit('DIR', 8)}${numCols.map(([title, key]) => (sort === key ? `*${title}` : title).padStart(9)).join('')} ${fit('TOP REASON', 21)}`;
  lines.push(rev(fit(header, scr.cols)));
  const room = Math.max(0, scr.rows - lines.length - 1);
  const rows = st.top(view, sort, room);
  for (const r of rows) {
    const flows = rollup ? (r.flows ? `${r.flows.estimated ? '~' : ''}${r.flows.size}`.padStart(9) : '-'.padStart(9)) : '';
    const line = `${fit(escapeForTerminal(r.label), labelW)} ${fit(r.direction, 8)}${COLUMNS.map((c) => num(r[c.key], 9)).join('')}${num(r.total, 9)}${num(r.last, 9)}${flows} ${fit(escapeForTerminal(r.topReason), 21)}`;
    lines.push(fit(line, scr.cols));
  }
  // Only when there is nothing to show: on a screen too short for any row the
  // table may still hold loss, and saying "none" would be wrong.
  if (rows.length === 0 && st.tables[view].size === 0) lines.push(fit('(no loss seen yet)', scr.cols));
  return lines;
}
