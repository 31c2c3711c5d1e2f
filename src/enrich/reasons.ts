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

/**
 * The names of an enum field from a tracepoint's `format` file: its print
 * fmt's `__print_symbolic(REC-><field>, { 2, "NOT_SPECIFIED" }, …)`, up to the
 * closing parenthesis of that call. `skip` names sentinels that are no value.
 */
export function parseSymbolic(text: string, field: string, skip: readonly string[] = []): ReasonTable {
  const map = new Map<number, string>();
  const at = text.search(new RegExp(`__print_symbolic\\(\\s*REC->${field}\\s*,`));
  if (at < 0) return new ReasonTable(map);
  // The call's own arguments: up to the parenthesis that closes it.
  let depth = 0;
  let end = text.length;
  for (let i = text.indexOf('(', at); i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) {
      end = i;
      break;
    }
  }
  const re = /\{\s*(\d+)\s*,\s*"([A-Z0-9_]+)"\s*\}/g;
  const body = text.slice(at, end);
  let x: RegExpExecArray | null;
  while ((x = re.exec(body)) !== null) if (!skip.includes(x[2])) map.set(Number(x[1]), x[2]);
  return new ReasonTable(map);
}

/** Parse the `format` file of tracepoint skb:kfree_skb. */
export function parseKfreeSkbFormat(text: string): ReasonTable {
  // SKB_DROP_REASON_MAX is a sentinel, not a reason.
  return parseSymbolic(text, 'reason', ['MAX']);
}

/** An enum's names from tracefs ("category:event" and field); empty table (names become UNKNOWN_<n>) if unreadable. */
export function loadSymbolic(tracefs: string, tracepoint: string, field: string, skip: readonly string[] = []): ReasonTable {
  const [cat, name] = tracepoint.split(':');
  try {
    return parseSymbolic(readFileSync(join(tracefs, 'events', cat, name, 'format'), 'utf8'), field, skip);
  } catch {
    return new ReasonTable(new Map());
  }
}

/** Drop reasons from tracefs; empty table (names become UNKNOWN_<n>) if unreadable. */
export function loadReasons(tracefs = '/sys/kernel/tracing'): ReasonTable {
  return loadSymbolic(tracefs, 'skb:kfree_skb', 'reason', ['MAX']);
}
