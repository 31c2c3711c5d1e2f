// Aggregation map keys back into the wire events the enricher understands,
// by the layout the probe catalog declares for each map (the same layout
// src/source/program.ts packs the keys with), so flow records carry exactly
// the fields an event of the same flow would — and only those the key holds:
// per-event details (lengths, flags, sequence numbers) are absent, not zero.
import type { EventWire, MapEntry } from '../decode/wire.js';
import type { KeyWord, MapRef, WireSchema } from '../decode/wire-schema.js';

export interface DecodedEntry {
  /** The map kind (d, r, i, …). */
  kind: string;
  /** True for the kernel's overflow maps (flows beyond --max-flows): no source side. */
  overflow: boolean;
  event: EventWire;
  map: MapRef;
}

const U32 = 0xffffffffn;
const hex16 = (v: bigint) => '0x' + v.toString(16);
/** Four little-endian u32 words as the probes print s6/d6 ("%08x" x4). */
const words = (ks: readonly bigint[]) => ks.map((k) => Number(k & U32).toString(16).padStart(8, '0')).join('');

/** One key word's decoding, with its shifts and masks as BigInt constants (a window can hold a million entries). */
type Step = (ev: EventWire, keys: readonly bigint[], at: number) => void;

function bitsStep(bits: readonly (readonly [string, number, number])[]): (ev: EventWire, k: bigint) => void {
  const names = bits.map((b) => b[0]);
  const shifts = bits.map((b) => BigInt(b[1]));
  const masks = bits.map((b) => (1n << BigInt(b[2])) - 1n);
  const n = bits.length;
  return (ev, k) => {
    for (let i = 0; i < n; i++) ev[names[i]] = Number((k >> shifts[i]) & masks[i]);
  };
}

function compileLayout(layout: readonly KeyWord[]): { steps: Step[]; at: number[] } {
  const steps: Step[] = [];
  const at: number[] = [];
  let i = 0;
  for (const w of layout) {
    at.push(i);
    if ('addr' in w) {
      // IPv4 in the first word, IPv6 in all four; nothing for non-IP (l3 0).
      const v4 = `${w.addr}4`;
      const v6 = `${w.addr}6`;
      steps.push((ev, keys, j) => {
        if (ev.l3 === 4) ev[v4] = Number(keys[j] & U32);
        else if (ev.l3 === 6) ev[v6] = words(keys.slice(j, j + 4));
      });
      i += 4;
      continue;
    }
    i++;
    if ('field' in w) {
      const f = w.field;
      steps.push((ev, keys, j) => (ev[f] = Number(keys[j])));
    } else if ('hex' in w) {
      const f = w.hex;
      steps.push((ev, keys, j) => (ev[f] = hex16(keys[j])));
    } else {
      const plain = bitsStep(w.bits);
      const when = w.when;
      if (!when) steps.push((ev, keys, j) => plain(ev, keys[j]));
      else {
        const alt = bitsStep(when.bits);
        steps.push((ev, keys, j) => (when.in.includes(ev[when.field] as number) ? alt : plain)(ev, keys[j]));
      }
    }
  }
  return { steps, at };
}

interface Plan {
  layout: { steps: Step[]; at: number[] };
  typeByCode: Map<number, string> | null;
  codeField: string | null;
  /** Fields with a closed set of values: a key outside it is not one of ours. */
  checks: Array<[string, readonly number[]]>;
  derive: Array<[string, string, Readonly<Record<string, number>>, number]>;
}

// Per map, computed once: a window can hold a million entries.
const plans = new WeakMap<MapRef, Plan>();
function planOf(m: MapRef): Plan {
  let p = plans.get(m);
  if (!p) {
    const c = m.spec.codes;
    p = {
      layout: compileLayout(m.layout),
      typeByCode: c ? new Map(Object.entries(c.types).map(([t, code]) => [code, t])) : null,
      codeField: c?.field ?? null,
      checks: Object.entries(m.format.fields).filter(([, f]) => f.values).map(([n, f]) => [n, f.values!]),
      derive: Object.entries(m.spec.derive ?? {}).map(([n, d]) => [n, d.from, d.map, d.else]),
    };
    plans.set(m, p);
  }
  return p;
}

/** Decode one printed map entry; undefined for a map or key shape we don't know. */
export function decodeEntry(schema: WireSchema, e: MapEntry, ts: number): DecodedEntry | undefined {
  const m = schema.map(e.map);
  if (!m || m.words !== e.keys.length) return undefined;
  const p = planOf(m);
  const ev: EventWire = { t: m.format.types[0], ts };
  const { steps, at } = p.layout;
  for (let i = 0; i < steps.length; i++) steps[i](ev, e.keys, at[i]);
  if (p.typeByCode) {
    // Not a key we know: the enricher would otherwise label it as something it is not.
    const t = p.typeByCode.get(ev[p.codeField!] as number);
    if (t === undefined) return undefined;
    ev.t = t;
    delete ev[p.codeField!];
  }
  for (let i = 0; i < p.checks.length; i++) {
    const v = ev[p.checks[i][0]];
    if (v !== undefined && !p.checks[i][1].includes(v as number)) return undefined;
  }
  for (let i = 0; i < p.derive.length; i++) {
    const [name, from, map, otherwise] = p.derive[i];
    ev[name] = map[String(ev[from])] ?? otherwise;
  }
  return { kind: m.spec.kind, overflow: m.overflow, event: ev, map: m };
}
