// Help text that wraps at word boundaries on any width. yargs' ESM build
// wraps with a character-count splitter ("En / v:", "sup / pressed"), so we
// take its help unwrapped (.wrap(null): one line per row, columns separated
// by two or more spaces) and wrap it here:
//   - a table row ("  --flag  description  [type]") keeps its description
//     column, continuation lines indented to it; when the terminal is too
//     narrow for that column, the description goes under the flag instead;
//   - any other line wraps with its own indentation;
//   - a word is never split: one longer than the line stands alone on it.

/** Below this many columns for descriptions, rows are stacked (flag line, then description). */
const MIN_DESC = 24;
const STACK_INDENT = 6;
const ROW = /^(\s+)(\S(?:.*?\S)?)( {2,})(\S.*)$/;

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** Greedy fill: lines of at most `width` characters after `indent`, never splitting a word. */
function fill(ws: string[], width: number, first: string, indent: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const w of ws) {
    if (empty) {
      line += w;
      empty = false;
    } else if (line.length + 1 + w.length <= width) {
      line += ' ' + w;
    } else {
      out.push(line);
      line = indent + w;
    }
  }
  out.push(line);
  return out;
}

export function rewrapHelp(text: string, width: number): string {
  const w = Math.max(20, Math.floor(width));
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line.length <= w) {
      out.push(line);
      continue;
    }
    const row = ROW.exec(line);
    if (row) {
      const [, lead, first, gap, rest] = row;
      const col = lead.length + first.length + gap.length;
      if (w - col >= MIN_DESC) {
        out.push(...fill(words(rest), w, lead + first + gap, ' '.repeat(col)));
      } else {
        out.push(...fill(words(first), w, lead, lead));
        const ind = ' '.repeat(Math.min(lead.length + STACK_INDENT, Math.floor(w / 3)));
        out.push(...fill(words(rest), w, ind, ind));
      }
      continue;
    }
    const lead = /^\s*/.exec(line)![0];
    out.push(...fill(words(line), w, lead, lead));
  }
  return out.join('\n');
}

/** Width to wrap help at: the terminal's, else $COLUMNS, else 100 (a pipe); at most 110. */
export function helpWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  const cols = stream.isTTY && stream.columns ? stream.columns : Number(env.COLUMNS) > 0 ? Number(env.COLUMNS) : 100;
  return Math.min(110, cols);
}
