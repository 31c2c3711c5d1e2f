// "did you mean …?" for unknown keys: the closest known name by edit distance.

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase().replace(/_/g, '-');
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(w, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  // Close enough to be a typo: a couple of edits, less than a third of the word.
  return best !== undefined && bestD <= Math.max(1, Math.min(3, Math.floor(best.length / 3))) ? best : undefined;
}

export function didYouMean(word: string, candidates: Iterable<string>, render: (s: string) => string = (s) => s): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean "${render(c)}"?)` : '';
}
