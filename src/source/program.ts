// Assemble one bpftrace program from the bundled probe files for the chosen
// variants. The only text we insert is (a) probe files from probes/, (b) fixed
// words chosen here, and (c) predicates from filters/predicate.ts, which are
// made of integers we rendered. Nothing from a user or the kernel is spliced.
import { readFileSync } from 'node:fs';
import { join, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BpftraceVersion } from './bpftrace-binary.js';
import { versionAtLeast } from './bpftrace-binary.js';
import type { SignalChoice } from './capabilities.js';
import { assertSafePredicate } from '../filters/predicate.js';

export const PROBES_DIR = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'probes'));

export interface ProgramInput {
  signals: SignalChoice[];
  version: BpftraceVersion;
  /** Predicate per probe kind; `null` turns that kind off. */
  dropPredicate: string | null;
  tcpSockPredicate: string | null;
  /** Smallest real drop reason code in the running kernel (0 on 5.17/5.18, where NOT_SPECIFIED was 0). */
  minReason: number;
  /** kfree_skb passes the receiving socket (rx_sk, 6.11+). Default: no. */
  dropRxSk?: boolean;
  /** tcp_retransmit_skb passes the attempt's result (err; 6.18 here). Default: no. */
  retransmitErr?: boolean;
  probesDir?: string;
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
  /** Windows start at CLOCK_MONOTONIC ≡ phaseNs (mod intervalNs), i.e. aligned to wall-clock multiples of the interval. */
  phaseNs: bigint;
  /** Distinct flow keys per map per window; beyond it events go to the overflow map. */
  maxFlows: number;
  /** How often the flush probe checks the clock (ms). */
  tickMs?: number;
}

/** Map name per aggregated kind: d drops, r TCP socket events (retransmit/synack/tlp), i incoming loss. */
export const AGG_KINDS = ['d', 'r', 'i'] as const;
export type AggKind = (typeof AGG_KINDS)[number];

export interface Program {
  text: string;
  /** Signals actually included (filters may exclude some). */
  included: SignalChoice[];
}

const INCLUDE_RE = /^\s*DROPTRACE_INCLUDE\(([\w./-]+)\)\s*$/gm;

// Fixed per-file substitutions: event type word, segment-length and
// segment-count expressions. The code goes into the aggregation key
// (src/aggregate/keys.ts reads it back). SKB is the retransmitted skb.
const RETRANS_SEGS = 'DROPTRACE_TCP_PCOUNT(SKB)';
const SOCKET_FILE_WORDS: Record<string, { type: string; code: number; segLen: string; segs: string }> = {
  'retransmits/tcp_retransmit_skb.bt': { type: 'retrans', code: 1, segLen: '((struct sk_buff *)args->skbaddr)->len', segs: RETRANS_SEGS.replace('SKB', 'args->skbaddr') },
  'retransmits/tcp_retransmit_synack.bt': { type: 'synack', code: 2, segLen: '0', segs: '1' },
  'retransmits/tcp_retransmit_skb.raw.bt': { type: 'retrans', code: 1, segLen: '((struct sk_buff *)arg1)->len', segs: RETRANS_SEGS.replace('SKB', 'arg1') },
  'retransmits/tcp_retransmit_synack.raw.bt': { type: 'synack', code: 2, segLen: '0', segs: '1' },
  'loss-probe/kprobe.bt': { type: 'tlp', code: 3, segLen: '0', segs: '1' },
  'loss-probe/fentry.bt': { type: 'tlp', code: 3, segLen: '0', segs: '1' },
};

/**
 * tcp_skb_pcount(skb): TCP_SKB_CB(skb)->tcp_gso_segs, the u16 at offset 8 of
 * skb->cb (struct tcp_skb_cb: seq, end_seq, then the gso segs/size pair; the
 * same since 4.x). bpftrace types cb as a string, so its address is computed:
 * offsetof() where bpftrace has it (0.23 measured; not 0.17), else 40, where
 * cb sits in struct sk_buff on every 64-bit kernel with BTF (after the list
 * union, sk and tstamp).
 */
function tcpPcount(skb: string, v: BpftraceVersion): string {
  const cb = versionAtLeast(v, 0, 21) ? 'offsetof(struct sk_buff, cb)' : '40';
  return `(uint64)*(uint16 *)((uint64)(${skb}) + ${cb} + 8)`;
}

// How each retransmit probe reads tcp_retransmit_skb's err argument. Newer
// kernels (6.18 here) fire the tracepoint for every attempt, also one that
// sent nothing (-EBUSY: the previous copy still sits in a host queue) or
// failed; the kernel counts only the attempts that went out in
// TCPFastRetrans/TCPSlowStartRetrans, and failures other than -EBUSY in
// RetransSegs and TCPRetransFail. We count attempts that went out (err 0).
const RETRANS_ERR: Record<string, string> = { 'retransmits/tcp_retransmit_skb.bt': '(int64)args->err', 'retransmits/tcp_retransmit_skb.raw.bt': '(int64)arg2' };

// How each drop probe reads kfree_skb's rx_sk argument (6.11+).
const RX_SK: Record<string, string> = { 'drops/kfree_skb.bt': '(uint64)args->rx_sk', 'drops/kfree_skb.raw.bt': '(uint64)arg3' };

const AGGREGATE_RE = /^(\s*)DROPTRACE_AGGREGATE\(([dri]), (\d+), (\$\w+), (\d+)\)\s*$/gm;
const STREAM_GATE_RE = /^(\s*)DROPTRACE_STREAM_GATE\s*$/gm;
const KSTACK_RE = /^(\s*)DROPTRACE_KSTACK\s*$/gm;

const keyList = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `$${prefix}${i + 1}`).join(', ');

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
function expandAggregate(indent: string, kind: string, nKeys: number, value: string, nOverflow: number, maxFlows: number): string {
  const k = keyList('k', nKeys);
  const o = keyList('o', nOverflow);
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
  const lines = ['if (@epoch == 0) {', ...gen(0).map((l) => '  ' + l), '} else {', ...gen(1).map((l) => '  ' + l), '}'];
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
function flushProbes(kinds: AggKind[], a: AggregateOptions): { probe: string; end: string[] } {
  const I = rendered(a.intervalNs, 'interval');
  const P = rendered(a.phaseNs % a.intervalNs, 'phase');
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
  // Stopped by END (@stopping): no flip or dump after it (see `end`).
  const probe = [
    `interval:ms:${tick}`,
    '/@stopping == 0/',
    '{',
    `  $w = (nsecs + ${I} - ${P}) / ${I};`,
    '  if (@dump != 0) {',
    ind(dumpOld, 4),
    '  } else {',
    '    if ($w != @window) {',
    '      if (@epoch == 0) {',
    ind(flip(0), 8),
    '      } else {',
    ind(flip(1), 8),
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

function readProbe(dir: string, rel: string): string {
  const p = normalize(join(dir, rel));
  if (!p.startsWith(dir + '/')) throw new Error(`internal: probe path escapes probes/: ${rel}`);
  return readFileSync(p, 'utf8').replace(INCLUDE_RE, (_m, inc: string) => readProbe(dir, inc));
}

export function buildProgram(input: ProgramInput): Program {
  const dir = input.probesDir ?? PROBES_DIR;
  const parts: string[] = [
    '// generated by droptrace from probes/ — see src/source/program.ts',
    // BEGIN fires after every probe is attached, so this line means "ready".
    'BEGIN { printf("{\\"t\\":\\"ready\\"}\\n"); }',
  ];
  const included: SignalChoice[] = [];
  const stream = input.stream === undefined ? { ratePerSec: 0 } : input.stream;
  const agg = input.aggregate ?? null;
  if (!stream && !agg) throw new Error('internal: a program needs streaming or aggregation');
  const kinds = new Set<AggKind>();
  const endLines: string[] = [];
  // Whether any probe has a rate-limited stream gate (flow-ends has none).
  let gated = false;
  for (const s of input.signals) {
    if (s.files.length === 0) continue;
    const isDrop = s.signal === 'drops';
    const pred = isDrop ? input.dropPredicate : input.tcpSockPredicate;
    if (pred === null) continue;
    assertSafePredicate(pred);
    for (const f of s.files) {
      let text = readProbe(dir, f);
      const words = SOCKET_FILE_WORDS[f];
      if (words) {
        text = text
          .replaceAll('DROPTRACE_EVENT_TYPE', words.type)
          .replaceAll('DROPTRACE_EVENT_CODE', String(words.code))
          .replaceAll('DROPTRACE_SEG_LEN', words.segLen)
          .replaceAll('DROPTRACE_SEG_COUNT', words.segs.replace(/DROPTRACE_TCP_PCOUNT\(([^)]*)\)/, (_m, skb: string) => tcpPcount(skb, input.version)));
      }
      text = text.replace(AGGREGATE_RE, (_m, indent: string, kind: AggKind, nk: string, value: string, no: string) => {
        if (!agg) return `${indent}// (aggregation off)`;
        kinds.add(kind);
        return expandAggregate(indent, kind, Number(nk), value, Number(no), Math.max(1, Math.trunc(agg.maxFlows)));
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
      text = text
        .replaceAll('DROPTRACE_FILTER_DROP', pred)
        .replaceAll('DROPTRACE_FILTER_TCP_SOCK', pred)
        .replaceAll('DROPTRACE_MIN_REASON', String(Math.max(0, Math.trunc(input.minReason))))
        .replaceAll('DROPTRACE_RX_SK', (input.dropRxSk && RX_SK[f]) || '(uint64)0')
        .replaceAll('DROPTRACE_RETRANS_ERR', (input.retransmitErr && RETRANS_ERR[f]) || '(int64)0');
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
    const f = flushProbes(AGG_KINDS.filter((k) => kinds.has(k)), agg);
    parts.push(f.probe);
    endLines.unshift(...f.end);
  }
  // bpftrace allows one END probe.
  if (endLines.length > 0) parts.push(['END', '{', ...endLines.map((l) => '  ' + l), '}'].join('\n'));
  const text = parts.join('\n');
  if (/DROPTRACE_[A-Z_]+/.test(text.replace(/^\s*\/\/.*$/gm, ''))) throw new Error('internal: unreplaced placeholder in generated program');
  return { text, included };
}
