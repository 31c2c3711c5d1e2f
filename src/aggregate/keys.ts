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

/** Decode one word's packed fields into `ev`. */
function unpack(ev: EventWire, bits: readonly (readonly [string, number, number])[], k: bigint): void {
  for (const [f, shift, width] of bits) ev[f] = Number((k >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
}

/** Decode a layout's words into `ev`. */
function decodeLayout(layout: readonly KeyWord[], keys: readonly bigint[], ev: EventWire): void {
  let i = 0;
  for (const w of layout) {
    if ('addr' in w) {
      // IPv4 in the first word, IPv6 in all four; nothing for non-IP (l3 0).
      if (ev.l3 === 4) ev[`${w.addr}4`] = Number(keys[i] & U32);
      else if (ev.l3 === 6) ev[`${w.addr}6`] = words(keys.slice(i, i + 4));
      i += 4;
      continue;
    }
    const k = keys[i++];
    if ('field' in w) ev[w.field] = Number(k);
    else if ('hex' in w) ev[w.hex] = hex16(k);
    else unpack(ev, w.when && w.when.in.includes(Number(ev[w.when.field])) ? w.when.bits : w.bits, k);
  }
}

interface Plan {
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
  decodeLayout(m.layout, e.keys, ev);
  if (p.typeByCode) {
    // Not a key we know: the enricher would otherwise label it as something it is not.
    const t = p.typeByCode.get(ev[p.codeField!] as number);
    if (t === undefined) return undefined;
    ev.t = t;
    delete ev[p.codeField!];
  }
  for (const [name, values] of p.checks) {
    const v = ev[name];
    if (v !== undefined && !values.includes(v as number)) return undefined;
  }
  for (const [name, from, map, otherwise] of p.derive) ev[name] = map[String(ev[from])] ?? otherwise;
  return { kind: m.spec.kind, overflow: m.overflow, event: ev, map: m };
}
