// Assemble one bpftrace program from the bundled probe files for the chosen
// variants, as the probe catalog (probes/*/probe.json, ./catalog.ts) says:
// each program's placeholders get the text its probe.json names for them
// (fixed words, or a choice by a kernel feature), the aggregation key is built
// from the wire format's map layout, the filter from the signal's filter kind.
// The only text we insert is (a) probe files from probes/, (b) words from
// their probe.json, (c) fixed words chosen here, and (d) predicates from
// ./predicate.ts, made of integers we rendered. Nothing from a user or the
// kernel is spliced.
import { readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import type { BpftraceVersion } from './bpftrace-binary.js';
import { versionAtLeast } from './bpftrace-binary.js';
import type { SignalChoice } from './capabilities.js';
import { assertSafePredicate } from './predicate.js';
import { loadCatalog, PROBES_DIR, type Catalog, type ProgramDef, type SignalDef } from './catalog.js';
import { SEGMENT_SHIFT, type KeyWord, type MapSpec, type BitField } from '../decode/wire-schema.js';
import { WindowClock } from '../decode/window-clock.js';

export { PROBES_DIR } from './catalog.js';

export interface ProgramInput {
  signals: SignalChoice[];
  version: BpftraceVersion;
  /** Predicate per filter kind (a signal's probe.json "filter"); `null` turns the signals of that kind off. */
  dropPredicate: string | null;
  tcpSockPredicate: string | null;
  /** Smallest real drop reason code in the running kernel (0 on 5.17/5.18, where NOT_SPECIFIED was 0). */
  minReason: number;
  /** Kernel features (Capabilities.features) that pick a placeholder's text ({"if": feature}). Default: none. */
  features?: Record<string, boolean>;
  probesDir?: string;
  /** Default: the catalog of probesDir. */
  catalog?: Catalog;
  /** Per-event streaming: events/s budget shared by all probes (0 = unlimited), or off. Default: unlimited. */
  stream?: { ratePerSec: number } | null;
  /** Follow each streamed drop with its kernel stack (addresses; symbolized by the collector). */
  kernelStack?: boolean;
  /** In-kernel per-flow counting, flushed every window. Default: off. */
  aggregate?: AggregateOptions | null;
}

export interface AggregateOptions {
  /** Window length (ns). */
  intervalNs: bigint;
  /** Windows start at CLOCK_MONOTONIC ≡ phaseNs (mod intervalNs): src/decode/window-clock.ts. */
  phaseNs: bigint;
  /** Distinct flow keys per map per window; beyond it events go to the overflow map. */
  maxFlows: number;
  /** How often the flush probe checks the clock (ms). */
  tickMs?: number;
}

export interface Program {
  text: string;
  /** Signals actually included (filters may exclude some). */
  included: SignalChoice[];
}

const INCLUDE_RE = /^\s*DROPTRACE_INCLUDE\(([\w./-]+)\)\s*$/gm;
const AGGREGATE_RE = /^(\s*)DROPTRACE_AGGREGATE\s*$/gm;
const STREAM_GATE_RE = /^(\s*)DROPTRACE_STREAM_GATE\s*$/gm;
const KSTACK_RE = /^(\s*)DROPTRACE_KSTACK\s*$/gm;
const PCOUNT_RE = /DROPTRACE_TCP_PCOUNT\(([^)]*)\)/g;

/**
 * tcp_skb_pcount(skb): TCP_SKB_CB(skb)->tcp_gso_segs, the u16 at offset 8 of
 * skb->cb (struct tcp_skb_cb: seq, end_seq, then the gso segs/size pair; the
 * same since 4.x). bpftrace types cb as a string, so its address is computed:
 * offsetof() where bpftrace has it (0.23 measured; not 0.17), else 40, where
 * cb sits in struct sk_buff on every 64-bit kernel with BTF (after the list
 * union, sk and tstamp). A macro any probe.json substitution may use.
 */
function tcpPcount(skb: string, v: BpftraceVersion): string {
  const cb = versionAtLeast(v, 0, 21) ? 'offsetof(struct sk_buff, cb)' : '40';
  return `(uint64)*(uint16 *)((uint64)(${skb}) + ${cb} + 8)`;
}

const keyList = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `$${prefix}${i + 1}`).join(', ');

const packBits = (bits: readonly BitField[]) => bits.map(([f, shift]) => (shift ? `($${f} << ${shift})` : `$${f}`)).join(' | ');

/** The bpftrace expressions of a key layout's 64-bit words, from the probe's variables (named as the wire fields). */
export function keyExpressions(layout: readonly KeyWord[]): string[] {
  const out: string[] = [];
  for (const w of layout) {
    if ('field' in w) out.push(`$${w.field}`);
    else if ('hex' in w) out.push(`$${w.hex}`);
    else if ('addr' in w) {
      // IPv4 in the first word, IPv6 in all four ($s6a..$s6d); zero otherwise
      // (done by the probe itself where the layout says so).
      const x = w.addr;
      const rest = ['b', 'c', 'd'].map((y) => (w.zeroedForIpv4 ? `$${x}6${y}` : `$l3 == 6 ? $${x}6${y} : (uint64)0`));
      out.push(`$l3 == 6 ? $${x}6a : $${x}4`, ...rest);
    } else if (w.when) {
      const cond = w.when.in.map((v) => `$${w.when!.field} == ${v}`).join(' || ');
      const paren = (x: string) => (x.includes(' ') ? `(${x})` : x);
      out.push(`(${cond}) ? ${paren(packBits(w.when.bits))} : ${paren(packBits(w.bits))}`);
    } else out.push(packBits(w.bits));
  }
  return out;
}

/**
 * Count one event into the current window's maps. Two generations (epoch 0/1)
 * so the flush probe can switch writers before the old maps are printed and
 * cleared. `@s<kind><e>` remembers which keys exist so at most maxFlows keys
 * are created per window (bpftrace 0.23 reports every failed insert into a
 * full map as a helper error — a flood of them under a many-flow storm); the
 * rest are counted, exactly, in the overflow map `@o<kind><e>`. `@t<kind><e>`
 * counts every event in a keyless per-CPU array, an update that cannot fail:
 * the collector compares it with the sum of the printed entries, so an insert
 * the kernel refused (a map sized too small) is a counted loss, never a silent
 * one.
 */
function expandAggregate(indent: string, map: MapSpec, maxFlows: number): string {
  const keys = keyExpressions(map.key);
  const over = keyExpressions(map.overflow);
  const k = keyList('k', keys.length);
  const o = keyList('o', over.length);
  const kind = map.kind;
  // The value: bytes, with segments packed above them (src/decode/wire.ts splits them).
  const valueLines = map.value.segments ? [`$val = $${map.value.bytes} | ($${map.value.segments} << ${SEGMENT_SHIFT});`] : [];
  const value = map.value.segments ? '$val' : `$${map.value.bytes}`;
  // The seen map is read once per event into $seen<e> (two hash operations
  // per counted event for a known key, the flood case). One variable per
  // generation: bpftrace 0.17 types a map read as 'none' in its first pass
  // and refuses to assign that over an int64 variable.
  const gen = (e: number) => [
    `$seen${e} = @s${kind}${e}[${k}];`,
    `if ($seen${e} == 0) {`,
    `  if (@n${kind}${e} < ${maxFlows}) { @s${kind}${e}[${k}] = 1; @n${kind}${e} = @n${kind}${e} + 1; $seen${e} = 1; }`,
    `}`,
    `if ($seen${e} != 0) { @${kind}${e}[${k}] = stats(${value}); } else { @o${kind}${e}[${o}] = stats(${value}); }`,
    `@t${kind}${e} = count();`,
  ];
  const lines = [
    ...keys.map((x, i) => `$k${i + 1} = ${x};`),
    // An overflow word the key already computed is copied, not recomputed:
    // every ternary is a stack slot, and bpftrace 0.17 runs out of the 512-byte
    // BPF stack in kfree_skb with host filters and both keys (measured).
    ...over.map((x, i) => `$o${i + 1} = ${keys.includes(x) ? `$k${keys.indexOf(x) + 1}` : x};`),
    ...valueLines,
    'if (@epoch == 0) {', ...gen(0).map((l) => '  ' + l), '} else {', ...gen(1).map((l) => '  ' + l), '}',
  ];
  return lines.map((l) => indent + l).join('\n');
}

/** Per-event output gate: `$emit` is 1 when this event may be printed. */
function expandStreamGate(indent: string, stream: { ratePerSec: number } | null): string {
  if (!stream) return `${indent}$emit = 0;`;
  if (stream.ratePerSec === 0) return `${indent}$emit = 1;`;
  // A shared budget per second of CLOCK_MONOTONIC. The unlocked map updates
  // can race across CPUs and let a few extra events through; every event
  // refused is counted in @suppressed (per-CPU, exact).
  return [
    '$emit = 0;',
    '$sec = nsecs / 1000000000;',
    'if (@rl_sec != $sec) { @rl_sec = $sec; @rl_n = 0; }',
    `if (@rl_n < ${stream.ratePerSec}) { @rl_n = @rl_n + 1; $emit = 1; } else { @suppressed = count(); }`,
  ].map((l) => indent + l).join('\n');
}

function rendered(n: number | bigint, what: string): string {
  const v = BigInt(n);
  if (v < 0n || v > 0xffffffffffffffffn) throw new Error(`internal: ${what} out of range: ${v}`);
  return v.toString();
}

/**
 * The probes that close windows. A window closes in two ticks:
 *  1. the flip: writers move to the other generation (@epoch) and the window
 *     bounds are noted;
 *  2. one tick later (100 ms), the dump: the old generation is printed and
 *     cleared. By then no event that read the old @epoch can still be writing
 *     to it (a probe runs for microseconds), so no increment can land between
 *     a print and its clear: the totals and entries printed are complete.
 * Userspace prints and clears a generation asynchronously, in message order.
 * @busy<e> is set at the dump and cleared (by userspace) right after that
 * generation's clear, so a flip back into a generation userspace has not
 * emptied yet (it lags more than a window, e.g. on a loaded host) is
 * postponed: the current window just grows, and the stall is counted.
 */
function flushProbes(kinds: string[], a: AggregateOptions): { probe: string; end: string[] } {
  const clock = new WindowClock(a.intervalNs, a.phaseNs);
  const tick = rendered(a.tickMs ?? 100, 'tick');
  // Totals last: an entry can then never be missing from a total it is part of.
  const dump = (e: number) => [...kinds.flatMap((k) => [`print(@${k}${e});`, `print(@o${k}${e});`]), ...kinds.map((k) => `print(@t${k}${e});`)];
  const wipe = (e: number) => kinds.flatMap((k) => [`clear(@${k}${e});`, `clear(@o${k}${e});`, `clear(@s${k}${e});`, `zero(@t${k}${e});`]);
  const reset = (e: number) => kinds.map((k) => `@n${k}${e} = 0;`);
  const flushLine = 'printf("{\\"t\\":\\"flush\\",\\"from\\":%llu,\\"to\\":%llu,\\"ts\\":%llu}\\n", @ffrom, @fto, @fts);';
  const dumpGen = (e: number) => [
    flushLine,
    ...dump(e),
    ...wipe(e),
    `@busy${e} = 1;`,
    `clear(@busy${e});`,
    'print(@stalls);',
    'printf("{\\"t\\":\\"flush-end\\"}\\n");',
  ];
  const flip = (from: number) => {
    const to = 1 - from;
    return [
      `if (@busy${to} == 0) {`,
      ...[...reset(to), `@epoch = ${to};`, '@ffrom = @window;', '@fto = $w;', '@fts = nsecs;', '@window = $w;', '@dump = 1;'].map((l) => '  ' + l),
      '} else {',
      '  @stalls = count();',
      '}',
    ];
  };
  const ind = (ls: string[], n: number) => ls.map((l) => ' '.repeat(n) + l).join('\n');
  // The generation to dump is the one not being written (@epoch flipped away from it).
  const dumpOld = ['if (@epoch == 0) {', ...dumpGen(1).map((l) => '  ' + l), '} else {', ...dumpGen(0).map((l) => '  ' + l), '}', '@dump = 0;'];
  // How a run ends without losing a message: the collector sets @stopreq
  // (through bpftool: bpftrace reads no input), and the tick calls exit().
  // bpftrace then handles every message queued before the exit event, in
  // order on this CPU's ring (our dumps), runs END and prints the maps. A
  // SIGINT instead makes bpftrace drop the messages it is handling when the
  // signal arrives — a dump printed but not cleared (then printed again at
  // exit), or cleared unprinted. SIGINT stays the fallback (no bpftool).
  // Stopped by END (@stopping): no flip or dump after it (see `end`).
  const probe = [
    `interval:ms:${tick}`,
    '/@stopping == 0/',
    '{',
    '  if (@stopreq != 0) {',
    '    @stopping = 1;',
    '    exit();',
    '  } else {',
    `    $w = ${clock.bpftraceWindowExpr()};`,
    '    if (@dump != 0) {',
    ind(dumpOld, 6),
    '    } else {',
    '      if ($w != @window) {',
    '        if (@epoch == 0) {',
    ind(flip(0), 10),
    '        } else {',
    ind(flip(1), 10),
    '        }',
    '      }',
    '    }',
    '  }',
    '}',
  ].join('\n');
  // On exit, the last partial window is what bpftrace itself prints of our
  // maps after END: it drains every CPU's ring first, so those lines come
  // after every flush the tick made, in order. END must not print the maps
  // itself: its messages travel on another CPU's ring than the tick's and can
  // be handled before or after them (a window printed twice, or cleared
  // before it was printed). It only stops the tick and empties the maps that
  // are not counts (key sets and scalars), so bpftrace prints just the
  // generations (@d0, @od1, …) and their totals (@td0, …); the collector takes
  // every count printed outside a flush as the final window. A flipped window
  // not dumped yet is printed with it (its counts land in the final window).
  const end = [
    '@stopping = 1;',
    ...kinds.flatMap((k) => [`clear(@s${k}0);`, `clear(@s${k}1);`, `clear(@n${k}0);`, `clear(@n${k}1);`]),
    // Not @epoch: events keep writing the generation they were writing,
    // never the one a last in-flight tick may be clearing.
    'clear(@window);',
    'clear(@dump);',
    'clear(@ffrom);',
    'clear(@fto);',
    'clear(@fts);',
    'clear(@busy0);',
    'clear(@busy1);',
  ];
  return { probe, end };
}

function safePath(dir: string, rel: string): string {
  const p = normalize(join(dir, rel));
  if (!p.startsWith(dir + '/')) throw new Error(`internal: probe path escapes probes/: ${rel}`);
  return p;
}

function readProbe(dir: string, rel: string): string {
  return readFileSync(safePath(dir, rel), 'utf8').replace(INCLUDE_RE, (_m, inc: string) => readProbe(dir, inc));
}

/** Every whole-word occurrence (not DROPTRACE_FILTER inside DROPTRACE_FILTER_X), the text taken literally. */
const replaceWord = (text: string, word: string, value: string) => text.replace(new RegExp(`\\b${word}\\b`, 'g'), () => value);

/** The text a placeholder of this program gets (its probe.json "substitute", or the built-ins for its type). */
function substitutions(prog: ProgramDef, sig: SignalDef, input: ProgramInput): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (prog.type !== undefined) {
    out.push(['DROPTRACE_EVENT_TYPE', prog.type]);
    const code = sig.wire.map?.codes?.types[prog.type];
    if (code !== undefined) out.push(['DROPTRACE_EVENT_CODE', String(code)]);
  }
  for (const [word, v] of Object.entries(prog.substitute)) {
    let text: string;
    if (typeof v === 'string') text = v;
    else if ('input' in v) text = String(Math.max(0, Math.trunc(input.minReason)));
    else text = input.features?.[v.if] ? v.then : v.else;
    out.push([word, text.replace(PCOUNT_RE, (_m, skb: string) => tcpPcount(skb, input.version))]);
  }
  return out;
}

export function buildProgram(input: ProgramInput): Program {
  const dir = input.probesDir ?? PROBES_DIR;
  const catalog = input.catalog ?? loadCatalog(dir);
  const parts: string[] = [
    '// generated by droptrace from probes/ — see src/source/program.ts',
    // BEGIN fires after every probe is attached, so this line means "ready".
    'BEGIN { printf("{\\"t\\":\\"ready\\"}\\n"); }',
  ];
  const included: SignalChoice[] = [];
  const stream = input.stream === undefined ? { ratePerSec: 0 } : input.stream;
  const agg = input.aggregate ?? null;
  if (!stream && !agg) throw new Error('internal: a program needs streaming or aggregation');
  const kinds = new Set<string>();
  const endLines: string[] = [];
  const predicates = { drop: input.dropPredicate, 'tcp-sock': input.tcpSockPredicate };
  // Whether any probe has a rate-limited stream gate (flow-ends has none).
  let gated = false;
  for (const s of input.signals) {
    if (s.files.length === 0) continue;
    const sig = catalog.signal(s.signal);
    if (!sig) throw new Error(`internal: signal ${s.signal} is not in the probe catalog`);
    const pred = predicates[sig.filter];
    if (pred === null) continue;
    assertSafePredicate(pred);
    for (const f of s.files) {
      safePath(dir, f);
      const prog = catalog.program(f);
      if (!prog || prog.signal !== sig) throw new Error(`internal: ${f} is not a program of signal ${s.signal} in the probe catalog`);
      let text = readProbe(dir, f);
      for (const [word, value] of substitutions(prog.def, sig, input)) text = replaceWord(text, word, value);
      text = text.replace(AGGREGATE_RE, (_m, indent: string) => {
        if (!agg) return `${indent}// (aggregation off)`;
        const map = sig.wire.map;
        if (!map) throw new Error(`internal: ${f} aggregates but its wire format declares no map`);
        kinds.add(map.kind);
        return expandAggregate(indent, map, Math.max(1, Math.trunc(agg.maxFlows)));
      });
      text = text.replace(STREAM_GATE_RE, (_m, indent: string) => {
        gated = true;
        return expandStreamGate(indent, stream);
      });
      // perf mode: one "\t<hex> <sym>+<off>" line per frame; the collector keeps
      // only the addresses. One printf, so the stack can't interleave with
      // another CPU's output; the marker ends it.
      text = text.replace(KSTACK_RE, (_m, indent: string) =>
        input.kernelStack ? `${indent}printf("%s{\\"t\\":\\"stack-end\\"}\\n", kstack(perf, 16));` : `${indent}// (no kernel stack)`);
      text = replaceWord(text, 'DROPTRACE_FILTER', pred);
      // bpftrace < 0.20 spells fentry as kfunc (and fexit as kretfunc).
      if (!versionAtLeast(input.version, 0, 20)) text = text.replace(/^fentry:/gm, 'kfunc:');
      parts.push(text);
    }
    included.push(s);
  }
  if (stream && stream.ratePerSec > 0 && gated) {
    // Cumulative suppressed count, once a second (the collector takes deltas).
    parts.push('interval:s:1 { print(@suppressed); }');
    endLines.push('print(@suppressed);', 'clear(@suppressed);', 'clear(@rl_sec);', 'clear(@rl_n);');
  }
  if (agg && kinds.size > 0) {
    // Flushed in the catalog's order (the maps' kinds as its signals declare them).
    const order = catalog.wire.mapSpecs.map((m) => m.kind);
    const f = flushProbes(order.filter((k) => kinds.has(k)), agg);
    // bpftrace 0.23 refuses a map nothing in the program writes: @stopreq is
    // written by the collector, from outside.
    parts[1] = 'BEGIN { @stopreq = 0; printf("{\\"t\\":\\"ready\\"}\\n"); }';
    parts.push(f.probe);
    endLines.unshift(...f.end);
  }
  // bpftrace allows one END probe.
  if (endLines.length > 0) parts.push(['END', '{', ...endLines.map((l) => '  ' + l), '}'].join('\n'));
  const text = parts.join('\n');
  if (/DROPTRACE_[A-Z_]+/.test(text.replace(/^\s*\/\/.*$/gm, ''))) throw new Error('internal: unreplaced placeholder in generated program');
  return { text, included };
}
