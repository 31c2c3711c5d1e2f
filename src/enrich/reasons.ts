// Drop reason names come from the running kernel, never from a table in this
// repo: the enum grows every release (6.18 has 120+ values) and values are
// renumbered between versions. Source: the kfree_skb tracepoint's print fmt,
// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, ...)`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export class ReasonTable {
  constructor(private readonly byCode: ReadonlyMap<number, string>) {}

  get size(): number {
    return this.byCode.size;
  }

  name(code: number): string {
    return this.byCode.get(code) ?? `UNKNOWN_${code}`;
  }

  codeOf(name: string): number | undefined {
    const want = name.toUpperCase().replace(/^SKB_DROP_REASON_/, '');
    for (const [code, n] of this.byCode) if (n === want) return code;
    return undefined;
  }

  /** Smallest real drop reason (NOT_SPECIFIED), 1 if unknown. */
  minCode(): number {
    return this.byCode.size ? Math.min(...this.byCode.keys()) : 1;
  }

  names(): string[] {
    return [...this.byCode.values()];
  }
}

/** Parse the `format` file of tracepoint skb:kfree_skb. */
export function parseKfreeSkbFormat(text: string): ReasonTable {
  const m = /__print_symbolic\(\s*REC->reason\s*,([\s\S]*)\)\s*$/m.exec(text);
  const map = new Map<number, string>();
  if (!m) return new ReasonTable(map);
  const re = /\{\s*(\d+)\s*,\s*"([A-Z0-9_]+)"\s*\}/g;
  let x: RegExpExecArray | null;
  // SKB_DROP_REASON_MAX is a sentinel, not a reason.
  while ((x = re.exec(m[1])) !== null) if (x[2] !== "MAX") map.set(Number(x[1]), x[2]);
  return new ReasonTable(map);
}

/** Reasons from tracefs; empty table (names become UNKNOWN_<n>) if unreadable. */
export function loadReasons(tracefs = '/sys/kernel/tracing'): ReasonTable {
  try {
    return parseKfreeSkbFormat(readFileSync(join(tracefs, 'events/skb/kfree_skb/format'), 'utf8'));
  } catch {
    return new ReasonTable(new Map());
  }
}
