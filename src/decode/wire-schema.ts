// The wire's shape, as the probe catalog declares it (probes/*/probe.json
// "wire", src/source/catalog.ts loads it): per event type the fields a probe
// prints and their ranges, and per aggregation map the layout of its 64-bit
// key words. One definition serves the probe side (src/source/program.ts
// builds the key expressions from it) and the collector side (decoding lines
// here, keys in src/aggregate/keys.ts), so the two cannot drift apart.

export type FieldType = 'type' | 'ts' | 'u8' | 'u16' | 'u32' | 'addr' | 'words';

export interface FieldSpec {
  readonly type: FieldType;
  /** The only values the probe prints (e.g. l3 4 or 6). */
  readonly values?: readonly number[];
  /** Printed by newer probes only: checked when present. */
  readonly optional?: boolean;
  readonly doc?: string;
}

/** [field, shift, width]: bits `shift .. shift+width-1` of a key word. */
export type BitField = readonly [string, number, number];

/**
 * One element of a key layout:
 *  - field: the whole 64-bit word is one field;
 *  - hex: the word is a kernel address, kept as the probes print it ("0x…");
 *  - addr: four words, an address side (s or d): IPv4 in the first word
 *    (s4/d4), IPv6 in all four (s6/d6), by the l3 field decoded before it;
 *    `zeroedForIpv4`: the probe sets the last three IPv6 words to 0 for IPv4
 *    itself, so the program reads them as they are (no per-word test: each
 *    is a live value across map calls, and bpftrace 0.17's kfree_skb program
 *    ran out of the 512-byte BPF stack with them);
 *  - bits: several fields packed; `when` a field's value is in a list, the
 *    other packing applies (ICMP type/code in place of ports).
 */
export type KeyWord =
  | { readonly field: string }
  | { readonly hex: string }
  | { readonly addr: 's' | 'd'; readonly zeroedForIpv4?: boolean }
  | { readonly bits: readonly BitField[]; readonly when?: { readonly field: string; readonly in: readonly number[]; readonly bits: readonly BitField[] } };

export interface MapSpec {
  /** Map letter: @<kind><gen>, overflow @o<kind><gen>, key set @s…, key count @n…, total @t…. */
  readonly kind: string;
  readonly key: readonly KeyWord[];
  /** The key beyond --max-flows: the flow without its source (the service). */
  readonly overflow: readonly KeyWord[];
  /** Probe variables counted: bytes, and segments packed above SEGMENT_SHIFT. */
  readonly value: { readonly bytes: string; readonly segments?: string };
  /** A key field telling the format's event types apart. */
  readonly codes?: { readonly field: string; readonly types: Readonly<Record<string, number>> };
  /** Fields a key does not hold, derived from one it does (e.g. the ethertype from l3). */
  readonly derive?: Readonly<Record<string, { readonly from: string; readonly map: Readonly<Record<string, number>>; readonly else: number }>>;
  /** Fields kept when a window has too many overflow groups; "f:nonzero" keeps only whether f is 0. */
  readonly coarse: readonly string[];
  /** event.action of counts no map could key (src/aggregate/flow-records.ts). */
  readonly unattributedAction: string;
  readonly doc?: string;
}

export interface WireFormat {
  /** event: becomes a record; connection-end: closes flows (src/aggregate/flow-ends.ts). */
  readonly role: 'event' | 'connection-end';
  /** Values of the `t` field. */
  readonly types: readonly string[];
  readonly fields: Readonly<Record<string, FieldSpec>>;
  readonly map?: MapSpec;
  readonly doc?: string;
}

/** Aggregated TCP values sum `bytes | segments << 40`: bytes in the low 40 bits (1 TiB a window), segments above. */
export const SEGMENT_SHIFT = 40;

/** Letters a map kind may not be: they prefix the kind in the maps beside it (@o, @s, @n, @t). */
const RESERVED_KINDS = new Set(['o', 's', 'n', 't']);

const U8 = 0xff;
const U16 = 0xffff;
const U32 = 0xffffffff;
/** Monotonic ns (bpf_ktime_get_ns): a u64 the kernel keeps below 2^63. */
export const TS_MAX = 2 ** 63 - 1;
const MAX_OF: Record<string, number> = { ts: TS_MAX, u8: U8, u16: U16, u32: U32 };
// Kernel addresses are printed "0x%llx"; IPv6 addresses as four "%08x" words
// (exactly 32 digits). Anything else would be misread downstream: BigInt()
// parses an unprefixed "10" as decimal, and a short word string becomes a
// silently wrong address.
export const ADDR_RE = /^0x[0-9a-f]{1,16}$/;
export const WORDS_RE = /^(0x)?[0-9a-f]{32}$/;

export type Range = number | readonly number[];

/** A format ready for checking lines: the numeric fields with their ranges, the hex ones with their pattern. */
export interface CompiledFormat {
  readonly format: WireFormat;
  readonly numeric: ReadonlyArray<readonly [string, Range]>;
  readonly optional: ReadonlyArray<readonly [string, Range]>;
  readonly hex: ReadonlyArray<readonly [string, RegExp]>;
}

/** A printed map name (`d`, `od`) and what it is. */
export interface MapRef {
  readonly spec: MapSpec;
  readonly format: WireFormat;
  readonly overflow: boolean;
  readonly layout: readonly KeyWord[];
  /** 64-bit words in the layout. */
  readonly words: number;
  readonly packed: boolean;
}

export const wordsOf = (layout: readonly KeyWord[]) => layout.reduce((n, w) => n + ('addr' in w ? 4 : 1), 0);

/** The fields a layout holds for one event (a `when` packing picks its own). */
export function layoutFields(layout: readonly KeyWord[], ev: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const w of layout) {
    if ('field' in w) out.push(w.field);
    else if ('hex' in w) out.push(w.hex);
    else if ('addr' in w) out.push(`${w.addr}4`, `${w.addr}6`);
    else {
      const alt = w.when && w.when.in.includes(Number(ev[w.when.field]));
      for (const [f] of alt ? w.when!.bits : w.bits) out.push(f);
    }
  }
  return out;
}

/** Every field a layout can hold, both packings. */
function allLayoutFields(layout: readonly KeyWord[]): string[] {
  const out: string[] = [];
  for (const w of layout) {
    if ('field' in w) out.push(w.field);
    else if ('hex' in w) out.push(w.hex);
    else if ('addr' in w) out.push(`${w.addr}4`, `${w.addr}6`);
    else out.push(...w.bits.map((b) => b[0]), ...(w.when?.bits ?? []).map((b) => b[0]));
  }
  return out;
}

/**
 * The wire of one set of probes, checked: built once from the catalog.
 * Throws Error(reason) for a format that could not be decoded exactly (a bug
 * in a probe.json, caught by the catalog's unit test).
 */
export class WireSchema {
  private readonly byType = new Map<string, CompiledFormat>();
  private readonly maps = new Map<string, MapRef>();
  readonly formats: readonly WireFormat[];

  constructor(formats: readonly WireFormat[]) {
    this.formats = formats;
    const kinds = new Map<string, WireFormat>();
    for (const f of formats) {
      for (const t of f.types) {
        const seen = this.byType.get(t);
        if (seen && seen.format !== f) throw new Error(`event type ${t} is declared by two wire formats`);
        this.byType.set(t, compileFormat(f));
      }
      if (!f.map) continue;
      checkMap(f);
      const m = f.map;
      const other = kinds.get(m.kind);
      if (other && other !== f) throw new Error(`map kind ${m.kind} is declared by two wire formats`);
      kinds.set(m.kind, f);
      const packed = m.value.segments !== undefined;
      this.maps.set(m.kind, { spec: m, format: f, overflow: false, layout: m.key, words: wordsOf(m.key), packed });
      this.maps.set(`o${m.kind}`, { spec: m, format: f, overflow: true, layout: m.overflow, words: wordsOf(m.overflow), packed });
    }
  }

  /** The format of event type `t` (the `t` field of a line). */
  format(t: string): CompiledFormat | undefined {
    return this.byType.get(t);
  }

  /** A printed map name without its generation digit: `d`, `od`, `r`, … */
  map(name: string): MapRef | undefined {
    return this.maps.get(name);
  }

  /** Every aggregation map spec, once each. */
  get mapSpecs(): MapSpec[] {
    return [...new Set([...this.maps.values()].map((m) => m.spec))];
  }

  /** The name of a kind's keyless per-window total (`td` for d). */
  static totalName(kind: string): string {
    return `t${kind}`;
  }
}

function compileFormat(f: WireFormat): CompiledFormat {
  const numeric: Array<readonly [string, Range]> = [];
  const optional: Array<readonly [string, Range]> = [];
  const hex: Array<readonly [string, RegExp]> = [];
  if (f.fields.t?.type !== 'type') throw new Error(`wire format of ${f.types.join('/')}: field t must be of type "type"`);
  for (const [name, spec] of Object.entries(f.fields)) {
    if (spec.type === 'type') continue;
    if (spec.type === 'addr' || spec.type === 'words') {
      if (spec.optional) throw new Error(`field ${name}: optional hex fields are not supported`);
      hex.push([name, spec.type === 'addr' ? ADDR_RE : WORDS_RE]);
      continue;
    }
    const max = MAX_OF[spec.type];
    if (max === undefined) throw new Error(`field ${name}: unknown type ${spec.type}`);
    if (spec.values && spec.values.some((v) => !Number.isInteger(v) || v < 0 || v > max)) throw new Error(`field ${name}: a listed value is outside ${spec.type}`);
    (spec.optional ? optional : numeric).push([name, spec.values ?? max]);
  }
  return { format: f, numeric, optional, hex };
}

function checkMap(f: WireFormat): void {
  const m = f.map!;
  const where = `map ${m.kind}`;
  if (!/^[a-z]$/.test(m.kind) || RESERVED_KINDS.has(m.kind)) throw new Error(`${where}: a kind is one lowercase letter other than o, s, n and t`);
  const known = new Set([...Object.keys(f.fields), ...(m.codes ? [m.codes.field] : [])]);
  for (const [name, layout] of [['key', m.key], ['overflow', m.overflow]] as const) {
    let l3 = false;
    for (const w of layout) {
      if ('addr' in w) {
        if (w.addr !== 's' && w.addr !== 'd') throw new Error(`${where} ${name}: addr is s or d`);
        if (w.zeroedForIpv4 !== undefined && typeof w.zeroedForIpv4 !== 'boolean') throw new Error(`${where} ${name}: zeroedForIpv4 is true or false`);
        if (!l3) throw new Error(`${where} ${name}: an address needs l3 decoded before it`);
        continue;
      }
      const fields = 'field' in w ? [w.field] : 'hex' in w ? [w.hex] : [];
      for (const x of fields) if (!known.has(x)) throw new Error(`${where} ${name}: unknown field ${x}`);
      if ('bits' in w) {
        for (const bits of [w.bits, ...(w.when ? [w.when.bits] : [])]) checkBits(where, name, bits, known);
        if (w.when && !known.has(w.when.field)) throw new Error(`${where} ${name}: unknown field ${w.when.field}`);
        if (w.bits.some((b) => b[0] === 'l3')) l3 = true;
      }
      if ('field' in w && w.field === 'l3') l3 = true;
    }
  }
  if (m.codes) {
    for (const t of f.types) if (m.codes.types[t] === undefined) throw new Error(`${where}: event type ${t} has no code`);
    if (new Set(Object.values(m.codes.types)).size !== Object.keys(m.codes.types).length) throw new Error(`${where}: two event types share a code`);
    if (!allLayoutFields(m.key).includes(m.codes.field) || !allLayoutFields(m.overflow).includes(m.codes.field)) throw new Error(`${where}: the code field must be in both keys`);
  } else if (f.types.length !== 1) throw new Error(`${where}: several event types need "codes"`);
  const inKey = new Set(allLayoutFields(m.key));
  for (const c of m.coarse) {
    const field = c.replace(/:nonzero$/, '');
    if (!inKey.has(field)) throw new Error(`${where}: coarse field ${field} is not in the key`);
  }
  for (const [name, d] of Object.entries(m.derive ?? {})) {
    if (!known.has(name) || !inKey.has(d.from)) throw new Error(`${where}: derive ${name} from ${d.from}: unknown field`);
  }
  if (!m.unattributedAction) throw new Error(`${where}: unattributedAction is required`);
}

function checkBits(where: string, name: string, bits: readonly BitField[], known: Set<string>): void {
  let used = 0n;
  for (const [field, shift, width] of bits) {
    if (!known.has(field)) throw new Error(`${where} ${name}: unknown field ${field}`);
    if (!Number.isInteger(shift) || !Number.isInteger(width) || shift < 0 || width < 1 || shift + width > 64) throw new Error(`${where} ${name}: ${field} does not fit in 64 bits`);
    const mask = ((1n << BigInt(width)) - 1n) << BigInt(shift);
    if (used & mask) throw new Error(`${where} ${name}: ${field} overlaps another field`);
    used |= mask;
  }
}
