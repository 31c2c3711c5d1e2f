// Group items by a key in one pass (push into the group's array: building a
// new array per item is quadratic, and a window can hold 20,000 groups).
export function groupBy<T, K>(items: Iterable<T>, key: (t: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const t of items) {
    const k = key(t);
    const a = out.get(k);
    if (a) a.push(t);
    else out.set(k, [t]);
  }
  return out;
}
