// What every scripts/bench* file prints with: the median of repeats, numbers
// formatted for a table, and a markdown table (first column left, the rest right).
export const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const fmt = (n, d = 0) => (typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : String(n));

export function table(title, head, rows) {
  const all = [head, ...rows].map((r) => r.map(String));
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  console.log(`\n## ${title}\n`);
  all.forEach((r, j) => {
    console.log('| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |');
    if (j === 0) console.log('|' + w.map((x, i) => ' ' + (i === 0 ? '-'.repeat(x) : '-'.repeat(x - 1) + ':') + ' ').join('|') + '|');
  });
}
