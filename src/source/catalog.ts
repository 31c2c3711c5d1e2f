// The probe catalog: every signal droptrace can trace, read from
// probes/<signal>/probe.json. Each declares what the kernel and bpftrace must
// offer (requirements and features, read by capabilities.ts), its variants
// best first and their programs (what program.ts assembles and substitutes,
// compile-check.ts compiles), which filter kind applies to it, and its wire:
// the fields it prints and the layout of its aggregation map (the shape
// src/decode and src/aggregate decode with; a shared format lives in
// probes/shared/*.wire.json). Adding a signal is a folder here plus an enrich
// function (src/enrich/signals.ts); nothing else lists signals.
//
// The catalog is our own bundled data, checked when loaded: an inconsistent
// probe.json is a bug (thrown as Error, caught by test/source/catalog.test.ts),
// never something a user can cause.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WireSchema, type WireFormat } from '../decode/wire-schema.js';

export const PROBES_DIR = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'probes'));

export type Variant = 'tracepoint' | 'rawtracepoint' | 'fentry' | 'kprobe' | 'inferred' | 'unavailable';
const VARIANTS: readonly Variant[] = ['tracepoint', 'rawtracepoint', 'fentry', 'kprobe', 'inferred'];

/** Which predicate a signal's DROPTRACE_FILTER gets (src/source/predicate.ts). */
export type FilterKind = 'drop' | 'tcp-sock';
const FILTER_KINDS: readonly FilterKind[] = ['drop', 'tcp-sock'];

/** What a signal needs: a signal without it is unavailable, a variant without it is skipped. */
export type Requirement =
  | { readonly tracepoint: string; readonly why?: string }
  | { readonly feature: string; readonly missing: string }
  | { readonly bpftrace: string; readonly why?: string }
  | { readonly bpftraceFeature: 'fentry' | 'kprobe'; readonly why?: string }
  | { readonly btf: true; readonly why?: string }
  | { readonly kprobe: string; readonly why?: string };

/** A kernel feature read from a tracepoint's format: a field the kernel passes or not. */
export interface FeatureDef {
  readonly name: string;
  /** "category:event". */
  readonly tracepoint: string;
  /** A field declaration as the format file prints it, e.g. "int err;". */
  readonly field: string;
  readonly why?: string;
}

/** Names of an enum from the running kernel: a tracepoint's __print_symbolic(REC->field, …). */
export interface NamesDef {
  readonly name: string;
  readonly tracepoint: string;
  readonly field: string;
  /** Sentinels that are no value (e.g. MAX). */
  readonly skip: readonly string[];
}

/** A placeholder's text: fixed, chosen by a kernel feature, or a number the collector renders. */
export type Substitution = string | { readonly if: string; readonly then: string; readonly else: string } | { readonly input: 'minReason' };

export interface ProgramDef {
  /** Path below probes/, e.g. "drops/kfree_skb.bt". */
  readonly path: string;
  readonly attach: string;
  /** The kernel event the program attaches to (names its BPF program: src/source/bpf-fdinfo.ts). */
  readonly event: string;
  /** Event type it prints, when its wire format has several (fills DROPTRACE_EVENT_TYPE and _CODE). */
  readonly type?: string;
  readonly substitute: Readonly<Record<string, Substitution>>;
}

export interface VariantDef {
  readonly name: Variant;
  readonly requires: readonly Requirement[];
  readonly programs: readonly string[];
  readonly detail: string;
  /** Chosen only as a fallback that sees less (e.g. loss probes inferred from retransmits). */
  readonly degraded: boolean;
}

export interface SignalDef {
  readonly name: string;
  readonly folder: string;
  readonly description: string;
  /** Display order. */
  readonly order: number;
  /** When a program fails to start, the signal with the lowest `keep` is dropped first. */
  readonly keep: number;
  readonly filter: FilterKind;
  /** Per-event streaming, in-kernel aggregation, or both. */
  readonly modes: ReadonlyArray<'stream' | 'aggregate'>;
  readonly requires: readonly Requirement[];
  readonly variants: readonly VariantDef[];
  /** Said (after the reason) when the signal is unavailable. */
  readonly unavailable?: string;
  readonly programs: ReadonlyMap<string, ProgramDef>;
  readonly wire: WireFormat;
}

export interface Catalog {
  readonly dir: string;
  /** In display order. */
  readonly signals: readonly SignalDef[];
  readonly features: ReadonlyMap<string, FeatureDef>;
  readonly names: ReadonlyMap<string, NamesDef>;
  readonly wire: WireSchema;
  signal(name: string): SignalDef | undefined;
  /** The program at a path below probes/, and its signal. */
  program(path: string): { signal: SignalDef; def: ProgramDef } | undefined;
}

const cache = new Map<string, Catalog>();

/** The catalog of a probes directory (read once per directory). */
export function loadCatalog(dir: string = PROBES_DIR): Catalog {
  let c = cache.get(dir);
  if (!c) {
    c = readCatalog(dir);
    cache.set(dir, c);
  }
  return c;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

class CatalogError extends Error {}

function readJson(path: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CatalogError(`${path}: ${(e as Error).message}`);
  }
  if (!isObj(v)) throw new CatalogError(`${path}: not a JSON object`);
  return v;
}

function readCatalog(dir: string): Catalog {
  const signals: SignalDef[] = [];
  const features = new Map<string, FeatureDef>();
  const names = new Map<string, NamesDef>();
  const wires = new Map<string, WireFormat>();
  const folders = readdirSync(dir).filter((f) => existsSync(join(dir, f, 'probe.json'))).sort();
  for (const folder of folders) {
    const file = join(dir, folder, 'probe.json');
    try {
      signals.push(readSignal(dir, folder, readJson(file), features, names, wires));
    } catch (e) {
      throw new Error(`probe catalog: ${e instanceof CatalogError ? '' : `${file}: `}${(e as Error).message}`);
    }
  }
  signals.sort((a, b) => a.order - b.order || (a.name < b.name ? -1 : 1));
  const byName = new Map<string, SignalDef>();
  const programs = new Map<string, { signal: SignalDef; def: ProgramDef }>();
  for (const s of signals) {
    if (byName.has(s.name)) throw new Error(`probe catalog: signal ${s.name} is declared twice`);
    byName.set(s.name, s);
    for (const def of s.programs.values()) programs.set(def.path, { signal: s, def });
  }
  let wire: WireSchema;
  try {
    wire = new WireSchema([...new Set(signals.map((s) => s.wire))]);
  } catch (e) {
    throw new Error(`probe catalog: ${(e as Error).message}`);
  }
  return {
    dir, signals, features, names, wire,
    signal: (name) => byName.get(name),
    program: (path) => programs.get(posix.normalize(path)),
  };
}

const str = (j: Json, k: string, where: string): string => {
  const v = j[k];
  if (typeof v !== 'string' || v === '') throw new CatalogError(`${where}: "${k}" must be a non-empty string`);
  return v;
};
const num = (j: Json, k: string, where: string): number => {
  const v = j[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CatalogError(`${where}: "${k}" must be a number`);
  return v;
};
const tracepointName = (v: string, where: string) => {
  if (!/^[a-z0-9_]+:[a-z0-9_]+$/.test(v)) throw new CatalogError(`${where}: tracepoint ${JSON.stringify(v)} is not "category:event"`);
  return v;
};

function readSignal(dir: string, folder: string, j: Json, features: Map<string, FeatureDef>, names: Map<string, NamesDef>, wires: Map<string, WireFormat>): SignalDef {
  const where = `probes/${folder}/probe.json`;
  const name = str(j, 'signal', where);
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new CatalogError(`${where}: signal name ${JSON.stringify(name)} is not lowercase-with-dashes`);
  const filter = str(j, 'filter', where) as FilterKind;
  if (!FILTER_KINDS.includes(filter)) throw new CatalogError(`${where}: filter must be one of ${FILTER_KINDS.join(', ')}`);
  const modes = (j.modes ?? ['stream', 'aggregate']) as Array<'stream' | 'aggregate'>;
  if (!Array.isArray(modes) || modes.length === 0 || modes.some((m) => m !== 'stream' && m !== 'aggregate')) throw new CatalogError(`${where}: modes must list stream and/or aggregate`);

  for (const [fname, f] of Object.entries((j.features ?? {}) as Json)) {
    if (!isObj(f)) throw new CatalogError(`${where}: feature ${fname} must be an object`);
    if (features.has(fname)) throw new CatalogError(`${where}: feature ${fname} is declared twice`);
    features.set(fname, { name: fname, tracepoint: tracepointName(str(f, 'tracepoint', where), where), field: str(f, 'field', where), why: f.why as string | undefined });
  }
  for (const [nname, n] of Object.entries((j.names ?? {}) as Json)) {
    if (!isObj(n)) throw new CatalogError(`${where}: names ${nname} must be an object`);
    if (names.has(nname)) throw new CatalogError(`${where}: names ${nname} is declared twice`);
    names.set(nname, { name: nname, tracepoint: tracepointName(str(n, 'tracepoint', where), where), field: str(n, 'field', where), skip: (n.skip as string[] | undefined) ?? [] });
  }

  const wire = readWire(dir, where, j.wire, wires);
  const programs = new Map<string, ProgramDef>();
  for (const [file, p] of Object.entries((j.programs ?? {}) as Json)) {
    if (!isObj(p)) throw new CatalogError(`${where}: program ${file} must be an object`);
    const path = posix.join(folder, file);
    if (!existsSync(join(dir, path)) || !statSync(join(dir, path)).isFile()) throw new CatalogError(`${where}: program file ${path} does not exist`);
    const type = p.type as string | undefined;
    if (type !== undefined && !wire.types.includes(type)) throw new CatalogError(`${where}: program ${file} prints type ${type}, which its wire format does not declare`);
    if (type === undefined && wire.types.length > 1) throw new CatalogError(`${where}: program ${file} must say which of ${wire.types.join(', ')} it prints ("type")`);
    const substitute = (p.substitute ?? {}) as Record<string, Substitution>;
    for (const [word, v] of Object.entries(substitute)) {
      if (!/^DROPTRACE_[A-Z0-9_]+$/.test(word)) throw new CatalogError(`${where}: ${word} is not a DROPTRACE_ placeholder`);
      const o = v as unknown as Json;
      const ok = typeof v === 'string' || (isObj(o) && ((typeof o.if === 'string' && typeof o.then === 'string' && typeof o.else === 'string') || o.input === 'minReason'));
      if (!ok) throw new CatalogError(`${where}: ${word} must be a string, {if, then, else} or {input: "minReason"}`);
    }
    programs.set(path, { path, attach: str(p, 'attach', where), event: str(p, 'event', where), type, substitute });
  }

  if (!Array.isArray(j.variants) || j.variants.length === 0) throw new CatalogError(`${where}: "variants" must list at least one variant, best first`);
  const variants = (j.variants as unknown[]).map((v, i): VariantDef => {
    const vw = `${where} variant ${i + 1}`;
    if (!isObj(v)) throw new CatalogError(`${vw}: must be an object`);
    const vname = str(v, 'name', vw) as Variant;
    if (!VARIANTS.includes(vname)) throw new CatalogError(`${vw}: name must be one of ${VARIANTS.join(', ')}`);
    const progs = (v.programs ?? []) as string[];
    if (!Array.isArray(progs)) throw new CatalogError(`${vw}: programs must be a list`);
    const paths = progs.map((f) => {
      const path = posix.join(folder, f);
      if (!programs.has(path)) throw new CatalogError(`${vw}: program ${f} is not declared under "programs"`);
      return path;
    });
    return { name: vname, requires: readRequires(v.requires, vw), programs: paths, detail: str(v, 'detail', vw), degraded: v.degraded === true };
  });
  for (const p of programs.keys()) if (!variants.some((v) => v.programs.includes(p))) throw new CatalogError(`${where}: program ${p} is in no variant`);

  return {
    name, folder, description: str(j, 'description', where), order: num(j, 'order', where), keep: num(j, 'keep', where), filter, modes,
    requires: readRequires(j.requires, where), variants, unavailable: j.unavailable as string | undefined, programs, wire,
  };
}

function readRequires(v: unknown, where: string): Requirement[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new CatalogError(`${where}: requires must be a list`);
  return v.map((r) => {
    if (!isObj(r)) throw new CatalogError(`${where}: a requirement must be an object`);
    if (typeof r.tracepoint === 'string') tracepointName(r.tracepoint, where);
    else if (typeof r.feature === 'string') str(r, 'missing', where);
    else if (typeof r.bpftrace === 'string') {
      if (!/^\d+\.\d+$/.test(r.bpftrace)) throw new CatalogError(`${where}: bpftrace version must be "major.minor"`);
    } else if (r.bpftraceFeature !== 'fentry' && r.bpftraceFeature !== 'kprobe' && r.btf !== true && typeof r.kprobe !== 'string') {
      throw new CatalogError(`${where}: unknown requirement ${JSON.stringify(r)}`);
    }
    return r as Requirement;
  });
}

function readWire(dir: string, where: string, v: unknown, wires: Map<string, WireFormat>): WireFormat {
  if (typeof v === 'string') {
    // A format shared by several signals: loaded once, the same object for all.
    const path = posix.normalize(v);
    if (path.startsWith('..') || !path.endsWith('.wire.json')) throw new CatalogError(`${where}: wire ${v} must be a .wire.json file below probes/`);
    let w = wires.get(path);
    if (!w) {
      w = checkWire(`probes/${path}`, readJson(join(dir, path)));
      wires.set(path, w);
    }
    return w;
  }
  if (!isObj(v)) throw new CatalogError(`${where}: "wire" must be an object or a probes/shared/*.wire.json path`);
  return checkWire(where, v);
}

function checkWire(where: string, w: Json): WireFormat {
  if (w.role !== 'event' && w.role !== 'connection-end') throw new CatalogError(`${where}: wire role must be event or connection-end`);
  if (!Array.isArray(w.types) || w.types.length === 0 || w.types.some((t) => typeof t !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(t))) throw new CatalogError(`${where}: wire types must list event type names`);
  if (!isObj(w.fields)) throw new CatalogError(`${where}: wire fields must be an object`);
  if (w.map !== undefined && !isObj(w.map)) throw new CatalogError(`${where}: wire map must be an object`);
  if (w.map && w.role !== 'event') throw new CatalogError(`${where}: only events are aggregated`);
  return w as unknown as WireFormat;
}
