import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, PROBES_DIR } from '../../src/source/program.js';
import type { SignalChoice } from '../../src/source/capabilities.js';
import type { BpftraceVersion } from '../../src/source/bpftrace-binary.js';
import { compilePredicate } from '../../src/source/predicate.js';
import { parseFilters } from '../../src/filters/filters.js';
import { UsageError } from '../../src/errors.js';

const V017: BpftraceVersion = { major: 0, minor: 17, patch: 0, text: '0.17.0' };
const V019: BpftraceVersion = { major: 0, minor: 19, patch: 1, text: '0.19.1' };
const V020: BpftraceVersion = { major: 0, minor: 20, patch: 0, text: '0.20.0' };
const V023: BpftraceVersion = { major: 0, minor: 23, patch: 2, text: '0.23.2' };
const V100: BpftraceVersion = { major: 1, minor: 0, patch: 0, text: '1.0.0' };

const sig = (signal: SignalChoice['signal'], variant: SignalChoice['variant'], files: string[]): SignalChoice => ({ signal, variant, files, detail: '', degraded: false });
const DROPS = sig('drops', 'tracepoint', ['drops/kfree_skb.bt']);
const DROPS_RAW = sig('drops', 'rawtracepoint', ['drops/kfree_skb.raw.bt']);
const INCOMING = sig('incoming-loss', 'tracepoint', ['incoming-loss/tcp_probe.bt']);
const RETRANS = sig('retransmits', 'tracepoint', ['retransmits/tcp_retransmit_skb.bt']);
const SYNACK = sig('synack-retransmits', 'tracepoint', ['synack-retransmits/tcp_retransmit_synack.bt']);
const TLP_FENTRY = sig('loss-probes', 'fentry', ['loss-probes/fentry.bt']);
const TLP_KPROBE = sig('loss-probes', 'kprobe', ['loss-probes/kprobe.bt']);
const TLP_INFERRED = sig('loss-probes', 'inferred', []);
const ALL = [DROPS, RETRANS, SYNACK, TLP_FENTRY];

/** Code lines only (comments removed), to check what bpftrace will compile. */
const code = (text: string) => text.split('\n').filter((l) => !/^\s*\/\//.test(l)).join('\n');
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('buildProgram with the bundled probes', () => {
  it('starts with the ready BEGIN probe and includes every signal', () => {
    const p = buildProgram({ signals: ALL, version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    expect(p.included).toEqual(ALL);
    const first = code(p.text).split('\n').find((l) => l.trim() !== '');
    expect(first).toBe('BEGIN { printf("{\\"t\\":\\"ready\\"}\\n"); }');
    for (const probe of ['tracepoint:skb:kfree_skb', 'tracepoint:tcp:tcp_retransmit_skb', 'tracepoint:tcp:tcp_retransmit_synack', 'fentry:tcp_send_loss_probe']) {
      expect(p.text).toMatch(new RegExp(`^${probe}$`, 'm'));
    }
  });

  it('rx_sk (kfree_skb 6.11+) names the netns of drops without device or owner, only when the kernel passes it', () => {
    const build = (signal: SignalChoice, dropRxSk?: boolean) => code(buildProgram({ signals: [signal], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, features: dropRxSk === undefined ? undefined : { dropRxSk } }).text);
    expect(build(DROPS, true)).toContain('$rxsk = (uint64)args->rx_sk;');
    expect(build(DROPS_RAW, true)).toContain('$rxsk = (uint64)arg3;');
    for (const s of [DROPS, DROPS_RAW]) {
      expect(build(s, false)).toContain('$rxsk = (uint64)0;');
      expect(build(s)).toContain('$rxsk = (uint64)0;');
      // Device first, then the skb's owner, then the receiving socket.
      const t = build(s, true);
      expect(t.indexOf('$netns = (uint64)$dev->nd_net.net->ns.inum;')).toBeLessThan(t.indexOf('$netns = (uint64)$skb->sk->__sk_common.skc_net.net->ns.inum;'));
      expect(t.indexOf('$netns = (uint64)$skb->sk->__sk_common.skc_net.net->ns.inum;')).toBeLessThan(t.indexOf('$netns = (uint64)((struct sock *)$rxsk)->__sk_common.skc_net.net->ns.inum;'));
    }
  });

  it('leaves no placeholder anywhere, comments included', () => {
    for (const v of [V017, V023]) {
      const p = buildProgram({ signals: [...ALL, TLP_KPROBE], version: v, dropPredicate: '($sport == 53)', tcpSockPredicate: '($netns == 7)', minReason: 2 });
      expect(p.text).not.toMatch(/DROPTRACE_/);
    }
  });

  it('expands the shared socket include once per socket probe', () => {
    const inc = readFileSync(join(PROBES_DIR, 'shared/tcp-socket-fields.bt.inc'), 'utf8');
    // The include reads the netns with a (uint64) cast (0.23 rejects mixed int widths).
    const marker = '$netns = (uint64)$sk->__sk_common.skc_net.net->ns.inum;';
    expect(inc).toContain(marker);
    const p = buildProgram({ signals: [...ALL, TLP_KPROBE], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    expect(count(p.text, marker)).toBe(4);
    expect(p.text).not.toContain('DROPTRACE_INCLUDE');
  });

  it('fills in the event type word and segment length per socket probe', () => {
    const p = buildProgram({ signals: [RETRANS, SYNACK, TLP_KPROBE], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    const t = code(p.text);
    expect(count(t, 'printf("{\\"t\\":\\"retrans\\"')).toBe(1);
    expect(count(t, 'printf("{\\"t\\":\\"synack\\"')).toBe(1);
    expect(count(t, 'printf("{\\"t\\":\\"tlp\\"')).toBe(1);
    // The segment length is computed once into $len (it is also the aggregated value) …
    expect(count(t, '$len = (uint64)(((struct sk_buff *)args->skbaddr)->len);')).toBe(1);
    expect(count(t, '$len = (uint64)(0);')).toBe(2);
    // … and every socket printf prints that $len and the segment count.
    expect(count(t, '$sport, $dport, $len, $segs, cpu);')).toBe(3);
    // Segments: tcp_skb_pcount of the retransmitted skb (offsetof where bpftrace has it), 1 for SYN-ACKs and probes.
    expect(count(t, '$segs = (uint64)((uint64)*(uint16 *)((uint64)(args->skbaddr) + offsetof(struct sk_buff, cb) + 8));')).toBe(1);
    expect(count(t, '$segs = (uint64)(1);')).toBe(2);
    // Bytes and segments go into the aggregated value together.
    const agg = code(buildProgram({ signals: [RETRANS, SYNACK, TLP_KPROBE], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, stream: null, aggregate: { intervalNs: 10n ** 10n, phaseNs: 0n, maxFlows: 10 } }).text);
    expect(count(agg, '$val = $len | ($segs << 40);')).toBe(3);
    const old = code(buildProgram({ signals: [RETRANS], version: V017, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 }).text);
    expect(old).toContain('$segs = (uint64)((uint64)*(uint16 *)((uint64)(args->skbaddr) + 40 + 8));');
    // The event code (1 retrans, 2 synack, 3 tlp) is set for the aggregation key (packed there: see the @r test below).
    for (const c of [1, 2, 3]) expect(count(t, `$code = (uint64)${c};`)).toBe(1);
    expect(t).not.toMatch(/DROPTRACE_(EVENT_TYPE|EVENT_CODE|SEG_LEN|SEG_COUNT|TCP_PCOUNT)/);
  });

  it('counts only retransmit attempts that went out, where the tracepoint says (err, newer kernels)', () => {
    const withErr = code(buildProgram({ signals: [RETRANS, SYNACK, TLP_KPROBE], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, features: { retransmitErr: true } }).text);
    expect(count(withErr, '$rerr = (int64)args->err;')).toBe(1);
    expect(count(withErr, '$rerr = (int64)0;')).toBe(2);
    expect(count(withErr, 'if ($rerr == 0 && 1) {')).toBe(3);
    const raw = code(buildProgram({ signals: [sig('retransmits', 'rawtracepoint', ['retransmits/tcp_retransmit_skb.raw.bt'])], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, features: { retransmitErr: true } }).text);
    expect(raw).toContain('$rerr = (int64)arg2;');
    // Older kernels fire it only for sent segments: no argument to read.
    const old = code(buildProgram({ signals: [RETRANS], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 }).text);
    expect(old).toContain('$rerr = (int64)0;');
  });

  it('puts each predicate in its probe kind only', () => {
    const drop = compilePredicate({ ...parseFilters({ port: ['53'] }), ifindexes: [], reasonCodes: [12], excludeReasonCodes: [] }, 'drop')!;
    const sock = compilePredicate({ ...parseFilters({ port: ['53'] }), ifindexes: [], reasonCodes: [], excludeReasonCodes: [] }, 'tcp-sock')!;
    const p = buildProgram({ signals: ALL, version: V023, dropPredicate: drop, tcpSockPredicate: sock, minReason: 2 });
    const t = code(p.text);
    expect(count(t, `if (${drop}) {`)).toBe(1);
    expect(count(t, `if ($rerr == 0 && ${sock}) {`)).toBe(3);
    expect(t).toContain('$reason == 12');
    expect(count(t, '$reason == 12')).toBe(1);
  });

  it('a null predicate leaves that probe kind out', () => {
    const noSock = buildProgram({ signals: ALL, version: V023, dropPredicate: '1', tcpSockPredicate: null, minReason: 2 });
    expect(noSock.included).toEqual([DROPS]);
    expect(noSock.text).toContain('tracepoint:skb:kfree_skb');
    expect(noSock.text).not.toContain('tcp_retransmit');
    expect(noSock.text).not.toContain('tcp_send_loss_probe');
    const noDrop = buildProgram({ signals: ALL, version: V023, dropPredicate: null, tcpSockPredicate: '1', minReason: 2 });
    expect(noDrop.included).toEqual([RETRANS, SYNACK, TLP_FENTRY]);
    expect(noDrop.text).not.toContain('kfree_skb');
  });

  it('signals without files (inferred, unavailable) add nothing', () => {
    const p = buildProgram({ signals: [DROPS, TLP_INFERRED], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    expect(p.included).toEqual([DROPS]);
    const none = buildProgram({ signals: [TLP_INFERRED], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    expect(none.included).toEqual([]);
  });

  it.each([DROPS, DROPS_RAW])('substitutes the smallest real drop reason (0 on 5.17/5.18, 1 on 5.19–6.2, 2 since 6.3): $variant', (drops) => {
    const gate = (minReason: number) => {
      const t = code(buildProgram({ signals: [drops], version: V023, dropPredicate: '1', tcpSockPredicate: null, minReason }).text);
      // Both headers set $reason; the shared body gates on it once.
      expect(count(t, '$reason >= ')).toBe(1);
      return /if \(\$reason >= (\S+)\) \{/.exec(t)?.[1];
    };
    expect(gate(2)).toBe('2');
    expect(gate(1)).toBe('1');
    expect(gate(0)).toBe('0');
    expect(gate(2.9)).toBe('2');
    expect(gate(-4)).toBe('0');
  });

  it.each([
    [V017, true], [V019, true], [V020, false], [V023, false], [V100, false],
  ])('bpftrace %o spells fentry as kfunc: %s', (version, kfunc) => {
    const p = buildProgram({ signals: [TLP_FENTRY], version, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    const t = code(p.text);
    expect(/^kfunc:tcp_send_loss_probe$/m.test(t)).toBe(kfunc);
    expect(/^fentry:tcp_send_loss_probe$/m.test(t)).toBe(!kfunc);
  });

  it('the kprobe variant is never rewritten', () => {
    const p = buildProgram({ signals: [TLP_KPROBE], version: V017, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2 });
    expect(code(p.text)).toMatch(/^kprobe:tcp_send_loss_probe$/m);
  });

  it.each([
    '1) { system("id"); } if (1',
    '1; exit()',
    'exit()',
    '$sport == 53 || exit()',
    '"x"',
    '`id`',
    '1\n}\nBEGIN { exit(); }\nEND { if (1',
    '$reason = 0',
    'comm == "sshd"',
    'DROPTRACE_FILTER_DROP',
  ])('refuses an unsafe predicate %j', (bad) => {
    expect(() => buildProgram({ signals: [DROPS], version: V023, dropPredicate: bad, tcpSockPredicate: '1', minReason: 2 })).toThrow(UsageError);
    expect(() => buildProgram({ signals: [RETRANS], version: V023, dropPredicate: '1', tcpSockPredicate: bad, minReason: 2 })).toThrow(UsageError);
  });
});

describe('buildProgram with a custom probes dir', () => {
  const root = mkdtempSync(join(tmpdir(), 'droptrace-probes-'));
  const dir = join(root, 'probes');
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(dir, 'p'), { recursive: true });
  mkdirSync(join(dir, 'shared'), { recursive: true });
  writeFileSync(join(dir, 'shared/outer.inc'), '  // outer\n  DROPTRACE_INCLUDE(shared/inner.inc)\n  $outer = 1;\n');
  writeFileSync(join(dir, 'shared/inner.inc'), '  $inner = 2;\n');
  writeFileSync(join(dir, 'p/nested.bt'), 'tracepoint:a:b\n{\n  DROPTRACE_INCLUDE(shared/outer.inc)\n  if (DROPTRACE_FILTER) { printf("x\\n"); }\n}\n');
  writeFileSync(join(dir, 'p/escape.bt'), 'tracepoint:a:b\n{\n  DROPTRACE_INCLUDE(../outside.inc)\n}\n');
  writeFileSync(join(dir, 'p/unknown.bt'), 'tracepoint:a:b\n{\n  if (DROPTRACE_SOMETHING_NEW) { }\n}\n');
  writeFileSync(join(dir, 'p/comment.bt'), '// mentions DROPTRACE_SOMETHING_NEW in a comment\ntracepoint:a:b { }\n');
  writeFileSync(join(dir, '..', 'outside.inc'), '  system("id");\n');
  // A catalog naming them (one signal with a program per file).
  const program = { attach: 'tracepoint:a:b', event: 'b' };
  writeFileSync(join(dir, 'p/probe.json'), JSON.stringify({
    signal: 'drops', order: 1, keep: 1, description: 'test probes', filter: 'drop',
    variants: [{ name: 'tracepoint', programs: ['nested.bt', 'escape.bt', 'unknown.bt', 'comment.bt'], detail: 'test' }],
    programs: { 'nested.bt': program, 'escape.bt': program, 'unknown.bt': program, 'comment.bt': program },
    wire: { role: 'event', types: ['drop'], fields: { t: { type: 'type' }, ts: { type: 'ts' } } },
  }));

  const build = (file: string) => buildProgram({ signals: [sig('drops', 'tracepoint', [file])], version: V023, dropPredicate: '($sport == 1)', tcpSockPredicate: '1', minReason: 2, probesDir: dir });

  it('expands nested includes', () => {
    const t = build('p/nested.bt').text;
    expect(t).toContain('$inner = 2;');
    expect(t).toContain('$outer = 1;');
    expect(t.indexOf('$inner')).toBeLessThan(t.indexOf('$outer'));
    expect(t).toContain('if (($sport == 1)) {');
    expect(t).not.toContain('DROPTRACE_');
  });

  it('refuses an include that escapes the probes dir', () => {
    expect(() => build('p/escape.bt')).toThrow(/escapes probes/);
  });

  it('refuses a probe file outside the probes dir', () => {
    expect(() => build('../outside.inc')).toThrow(/escapes probes/);
  });

  it('fails loudly on a placeholder it does not know, but not on one in a comment', () => {
    expect(() => build('p/unknown.bt')).toThrow(/unreplaced placeholder/);
    expect(build('p/comment.bt').text).toContain('tracepoint:a:b { }');
  });
});

describe('buildProgram: in-kernel aggregation (DROPTRACE_AGGREGATE)', () => {
  const I = 10_000_000_000n;
  const AGG = { intervalNs: I, phaseNs: 3_456_789_012n, maxFlows: 4096 };
  const EVERY = [DROPS_RAW, RETRANS, SYNACK, TLP_KPROBE, INCOMING];
  const build = (over: Partial<Parameters<typeof buildProgram>[0]> = {}) =>
    buildProgram({ signals: EVERY, version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, stream: null, aggregate: AGG, ...over });
  const keys = (n: number, p = 'k') => Array.from({ length: n }, (_, i) => `$${p}${i + 1}`).join(', ');
  /** The body of the one END probe. */
  const endBody = (t: string) => {
    const m = /^END\n\{\n([\s\S]*?)\n\}$/m.exec(t);
    expect(m, 'an END probe').not.toBeNull();
    return m![1];
  };
  /** The interval:ms flush probe. */
  const flushProbe = (t: string) => /^interval:ms:\d+\n(?:\/[^\n]*\/\n)?\{\n[\s\S]*?\n\}$/m.exec(t)?.[0] ?? '';

  it.each([
    ['d', 14, '$len', 10, '$k14'],
    ['r', 11, '$val', 7, '$k11'],
    ['i', 11, '$val', 7, '$k11'],
  ] as const)('@%s: both epochs count into their own maps, bounded by maxFlows, the rest into the overflow map', (kind, nk, value, no, lastKey) => {
    const t = code(build().text);
    const k = keys(nk);
    const o = keys(no, 'o');
    // How many probes carry this kind: d once, r in retrans+synack+tlp, i once.
    const probes = kind === 'r' ? 3 : 1;
    for (const e of [0, 1]) {
      // The seen map is read once per event; a new key is recorded only while under the bound.
      expect(count(t, `$seen${e} = @s${kind}${e}[${k}];\n`)).toBe(probes);
      expect(count(t, `if ($seen${e} == 0) {`)).toBeGreaterThanOrEqual(probes);
      expect(count(t, `if (@n${kind}${e} < 4096) { @s${kind}${e}[${k}] = 1; @n${kind}${e} = @n${kind}${e} + 1; $seen${e} = 1; }`)).toBe(probes);
      expect(count(t, `if ($seen${e} != 0) { @${kind}${e}[${k}] = stats(${value}); } else { @o${kind}${e}[${o}] = stats(${value}); }`)).toBe(probes);
      expect(count(t, `@s${kind}${e}[${k}]`)).toBe(2 * probes);
    }
    // The keys are built from the wire format's layout (the one the collector decodes with), once per probe.
    expect(count(t, '$k1 = $netns;')).toBeGreaterThanOrEqual(probes);
    // The overflow key's last word (the destination address's) is the key's, copied rather than recomputed.
    expect(count(t, `$o${no} = ${lastKey};`)).toBeGreaterThanOrEqual(probes);
    // Epoch 0 first, epoch 1 in the else branch, inside one if.
    const i0 = t.indexOf(`@${kind}0[${k}] = stats(`);
    const i1 = t.indexOf(`@${kind}1[${k}] = stats(`);
    expect(i0).toBeGreaterThan(0);
    expect(t.lastIndexOf('if (@epoch == 0) {', i0)).toBeGreaterThan(t.lastIndexOf('} else {', i0));
    expect(t.slice(i0, i1)).toContain('} else {');
  });

  it('packs each key word as its probe.json layout says (the collector decodes the same layout)', () => {
    const t = code(build().text);
    // drops: device and input device; l3/l4/local/reason; ports, or ICMP type/code; addresses as four words.
    expect(t).toContain('$k2 = ($ifindex << 32) | $iif;');
    expect(t).toContain('$k5 = ($l3 << 48) | ($l4 << 40) | ($local << 32) | $reason;');
    expect(t).toContain('$k6 = ($l4 == 1 || $l4 == 58) ? (($icmp_type << 16) | $icmp_code) : (($sport << 16) | $dport);');
    expect(t).toContain('$k7 = $l3 == 6 ? $s6a : $s4;');
    // Drops zero the IPv6 words of an IPv4 packet themselves ("zeroedForIpv4"); socket signals test l3 per word.
    expect(t).toContain('$k14 = $d6d;');
    expect(count(t, '$k11 = $l3 == 6 ? $d6d : (uint64)0;')).toBe(4);
    // The drop overflow key: the destination port (or ICMP type/code) and address, no source.
    expect(t).toContain('$o6 = ($l4 == 1 || $l4 == 58) ? (($icmp_type << 16) | $icmp_code) : $dport;');
    expect(t).toContain('$o7 = $k11;');
    // TCP socket events: the event code (1 retrans, 2 synack, 3 tlp), state, CA state, pending timer and family.
    expect(count(t, '$k2 = ($code << 56) | ($state << 48) | ($ca_state << 40) | ($pending << 32) | $l3;')).toBe(3);
    // Incoming loss: action and family.
    expect(count(t, '$k2 = ($action << 56) | $l3;')).toBe(1);
    // TCP values: bytes with segments packed above them; drops count bytes only.
    expect(count(t, '$val = $len | ($segs << 40);')).toBe(3);
    expect(count(t, '$val = $bytes | ($segs << 40);')).toBe(1);
  });

  it('renders maxFlows as a positive integer', () => {
    const bound = (maxFlows: number) => /if \(@nd0 < (\S+)\)/.exec(code(build({ signals: [DROPS], aggregate: { ...AGG, maxFlows } }).text))?.[1];
    expect(bound(4096)).toBe('4096');
    expect(bound(50)).toBe('50');
    expect(bound(12.7)).toBe('12');
    expect(bound(0)).toBe('1');
    expect(bound(-3)).toBe('1');
  });

  it('the flush probe closes aligned windows in two ticks: flip the epoch, then dump and clear the old generation', () => {
    const t = code(build().text);
    const f = flushProbe(t);
    expect(f).toMatch(/^interval:ms:100\n\/@stopping == 0\/\n/);
    // Phase is taken modulo the interval.
    expect(f).toContain('$w = (nsecs + 10000000000 - 3456789012) / 10000000000;');
    expect(flushProbe(code(build({ aggregate: { ...AGG, phaseNs: I * 7n + 5n, tickMs: 250 } }).text))).toContain('$w = (nsecs + 10000000000 - 5) / 10000000000;');
    expect(flushProbe(code(build({ aggregate: { ...AGG, tickMs: 250 } }).text))).toMatch(/^interval:ms:250\n/);
    // A pending dump is done before any flip is considered: the dump runs one tick after its flip.
    expect(f.indexOf('if (@dump != 0) {')).toBeGreaterThan(0);
    expect(f.indexOf('if (@dump != 0) {')).toBeLessThan(f.indexOf('if ($w != @window) {'));
    // Each flip runs only when the target generation is no longer busy (userspace cleared it); else the stall is counted.
    const branch = (to: number) => {
      const m = new RegExp(`if \\(@busy${to} == 0\\) \\{\\n([\\s\\S]*?)\\n\\s*\\} else \\{\\n\\s*@stalls = count\\(\\);`).exec(f);
      expect(m, `flip guarded by @busy${to}`).not.toBeNull();
      return m![1];
    };
    for (const to of [0, 1]) {
      const text = branch(to);
      // The flip only moves writers and notes the window; it prints nothing.
      expect(text).toContain(`@epoch = ${to};`);
      expect(text).not.toContain('print(');
      expect(text).not.toContain('printf(');
      for (const k of ['d', 'r', 'i']) expect(text.indexOf(`@n${k}${to} = 0;`)).toBeLessThan(text.indexOf(`@epoch = ${to};`));
      for (const l of ['@ffrom = @window;', '@fto = $w;', '@fts = nsecs;', '@window = $w;', '@dump = 1;']) expect(text).toContain(l);
    }
    // The dump prints the generation NOT being written: marker, entries, totals last, then clears and the busy handshake.
    const dump = /if \(@dump != 0\) \{\n\s*if \(@epoch == 0\) \{\n([\s\S]*?)\n\s*\} else \{\n([\s\S]*?)\n\s*\}\n\s*@dump = 0;/.exec(f);
    expect(dump).not.toBeNull();
    for (const [old, text] of [[1, dump![1]], [0, dump![2]]] as const) {
      const marker = text.indexOf('printf("{\\"t\\":\\"flush\\",\\"from\\":%llu,\\"to\\":%llu,\\"ts\\":%llu}\\n", @ffrom, @fto, @fts);');
      expect(marker).toBeGreaterThanOrEqual(0);
      for (const k of ['d', 'r', 'i']) {
        const pr = text.indexOf(`print(@${k}${old});`);
        const po = text.indexOf(`print(@o${k}${old});`);
        const pt = text.indexOf(`print(@t${k}${old});`);
        const cl = text.indexOf(`clear(@${k}${old});`);
        expect(marker).toBeLessThan(pr);
        expect(pr).toBeLessThan(po);
        expect(po).toBeLessThan(pt);
        // Totals after every entry of every kind.
        for (const k2 of ['d', 'r', 'i']) expect(text.indexOf(`print(@o${k2}${old});`)).toBeLessThan(pt);
        expect(pt).toBeLessThan(cl);
        expect(text).toContain(`clear(@o${k}${old});`);
        expect(text).toContain(`clear(@s${k}${old});`);
        expect(text).toContain(`zero(@t${k}${old});`);
        expect(text).not.toContain(`print(@${k}${1 - old});`);
      }
      expect(text.indexOf(`@busy${old} = 1;`)).toBeGreaterThan(text.indexOf(`clear(@sd${old});`));
      expect(text.indexOf(`clear(@busy${old});`)).toBeGreaterThan(text.indexOf(`@busy${old} = 1;`));
      expect(text.indexOf('print(@stalls);')).toBeGreaterThan(0);
      expect(text.trim().split('\n').pop()!.trim()).toBe('printf("{\\"t\\":\\"flush-end\\"}\\n");');
    }
  });

  it('every counted event also counts into its generation\'s keyless total (an update that cannot fail)', () => {
    const t = code(build().text);
    for (const k of ['d', 'r', 'i']) {
      for (const e of [0, 1]) {
        const stat = t.indexOf(`@o${k}${e}[`);
        const total = t.indexOf(`@t${k}${e} = count();`, stat);
        expect(stat, `${k}${e}`).toBeGreaterThan(0);
        expect(total, `${k}${e}`).toBeGreaterThan(stat);
      }
    }
  });

  it('the window number the flush probe prints: every event time falls in the window the collector is told', () => {
    // Mirror the probe's integer arithmetic: window `w` holds events counted
    // while $w == w; the collector's FlowAggregator places it at
    // [phase + (w-1)·I, phase + w·I) (src/aggregate/flow-records.ts).
    const t = code(build().text);
    const [add, sub, div] = /\$w = \(nsecs \+ (\d+) - (\d+)\) \/ (\d+);/.exec(t)!.slice(1).map((x) => BigInt(x));
    const wOf = (nsecs: bigint) => (nsecs + add - sub) / div;
    const P = AGG.phaseNs % I;
    for (const nsecs of [P, P + 1n, P + I - 1n, P + I, 12_345n * I + P - 1n, 12_345n * I + P, 1n, P - 1n]) {
      const w = wOf(nsecs);
      expect(P + (w - 1n) * I <= nsecs && nsecs < P + w * I, `nsecs ${nsecs} → window ${w}`).toBe(true);
    }
  });

  it('exactly one END probe: it stops the tick and empties the key sets and scalars, and prints no map (bpftrace prints the counts after it)', () => {
    const t = code(build({ stream: { ratePerSec: 1000 } }).text);
    expect(t.match(/^END$/gm)).toHaveLength(1);
    const end = endBody(t);
    const lines = end.split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('@stopping = 1;');
    // No print of a count map from END: its messages could be handled before the tick's last dump.
    for (const k of ['d', 'r', 'i']) {
      for (const e of [0, 1]) {
        for (const m of [`@${k}${e}`, `@o${k}${e}`, `@t${k}${e}`]) {
          expect(lines).not.toContain(`print(${m});`);
          expect(lines).not.toContain(`clear(${m});`);
        }
        expect(lines).toContain(`clear(@s${k}${e});`);
        expect(lines).toContain(`clear(@n${k}${e});`);
      }
    }
    expect(end).not.toContain('flush');
    for (const m of ['@window', '@dump', '@ffrom', '@fto', '@fts', '@busy0', '@busy1', '@suppressed', '@rl_sec', '@rl_n']) expect(lines).toContain(`clear(${m});`);
    expect(lines).not.toContain('clear(@epoch);');
    // The cumulative suppressed count is printed once more before it is cleared.
    expect(lines.indexOf('print(@suppressed);')).toBeLessThan(lines.indexOf('clear(@suppressed);'));
  });

  it('flushes only the kinds present', () => {
    const t = code(build({ signals: [DROPS] }).text);
    expect(t).toContain('print(@d0);');
    expect(t).not.toMatch(/@[ri][01]|@o[ri][01]|@s[ri][01]|@n[ri][01]/);
    const sockOnly = code(build({ dropPredicate: null }).text);
    expect(sockOnly).not.toMatch(/@d[01]|@od[01]/);
    expect(sockOnly).toContain('print(@i1);');
  });

  it('leaves no placeholder, balances braces, and for 0.17 too', () => {
    for (const version of [V017, V023]) {
      for (const stream of [null, { ratePerSec: 0 }, { ratePerSec: 7 }]) {
        const p = build({ version, stream, signals: version === V017 ? [DROPS, RETRANS, SYNACK, TLP_FENTRY, INCOMING] : EVERY });
        expect(p.text).not.toMatch(/DROPTRACE_/);
        const t = code(p.text);
        expect(count(t, '{')).toBe(count(t, '}'));
      }
    }
  });

  it('aggregation off: the placeholder becomes a comment, no flush probe, no END without a rate limit', () => {
    const p = build({ aggregate: null, stream: { ratePerSec: 0 } });
    expect(p.text).toContain('// (aggregation off)');
    const t = code(p.text);
    expect(t).not.toMatch(/@epoch|@window|stats\(|interval:ms:/);
    expect(t).not.toMatch(/^END$/m);
    expect(build({ aggregate: undefined, stream: { ratePerSec: 0 } }).text).toBe(p.text);
  });

  it('refuses a program with neither streaming nor aggregation', () => {
    expect(() => build({ aggregate: null, stream: null })).toThrow(/streaming or aggregation/);
  });

  it('refuses an interval or phase that does not fit in a u64', () => {
    expect(() => build({ aggregate: { ...AGG, intervalNs: 1n << 64n } })).toThrow(/out of range/);
    expect(() => build({ aggregate: { ...AGG, phaseNs: -1n } })).toThrow(/out of range/);
  });

  it('no flush probe and no END when every aggregating signal is filtered out', () => {
    const t = code(build({ signals: [DROPS, TLP_INFERRED], dropPredicate: null }).text);
    expect(t).not.toMatch(/interval:ms:|^END$/m);
  });
});

describe('buildProgram: the event stream gate (DROPTRACE_STREAM_GATE)', () => {
  const build = (stream: { ratePerSec: number } | null | undefined, aggregate = stream === null ? { intervalNs: 1_000_000_000n, phaseNs: 0n, maxFlows: 10 } : null) =>
    code(buildProgram({ signals: [DROPS, RETRANS, INCOMING], version: V023, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, stream, aggregate }).text);

  it('off (aggregation only): $emit is 0 in every probe, nothing about rate limits', () => {
    const t = build(null);
    expect(count(t, '$emit = 0;')).toBe(3);
    expect(t).not.toContain('$emit = 1;');
    expect(t).not.toMatch(/@suppressed|@rl_|interval:s:1/);
    // The printf stays behind `if ($emit)`: one program text for both modes.
    expect(count(t, 'if ($emit) {')).toBe(3);
  });

  it('unlimited (default): $emit is 1, no budget maps', () => {
    for (const t of [build({ ratePerSec: 0 }), build(undefined)]) {
      expect(count(t, '$emit = 1;')).toBe(3);
      expect(t).not.toMatch(/@suppressed|@rl_|interval:s:1|^END$/m);
    }
  });

  it('limited: a shared per-second budget, refused events counted, the count printed every second and at exit', () => {
    const t = build({ ratePerSec: 250 });
    expect(count(t, 'if (@rl_n < 250) { @rl_n = @rl_n + 1; $emit = 1; } else { @suppressed = count(); }')).toBe(3);
    expect(count(t, 'if (@rl_sec != $sec) { @rl_sec = $sec; @rl_n = 0; }')).toBe(3);
    expect(count(t, '$sec = nsecs / 1000000000;')).toBe(3);
    expect(t).toMatch(/^interval:s:1 \{ print\(@suppressed\); \}$/m);
    expect(t.match(/^END$/gm)).toHaveLength(1);
    expect(t).toMatch(/^END\n\{\n  print\(@suppressed\);\n  clear\(@suppressed\);\n  clear\(@rl_sec\);\n  clear\(@rl_n\);\n\}$/m);
  });

  it('limited with aggregation: one END, windows first, then the suppressed count', () => {
    const t = build({ ratePerSec: 5 }, { intervalNs: 1_000_000_000n, phaseNs: 0n, maxFlows: 10 });
    expect(t.match(/^END$/gm)).toHaveLength(1);
    const end = t.slice(t.search(/^END$/m));
    expect(end.indexOf('"final\\":1')).toBeLessThan(end.indexOf('print(@suppressed);'));
  });
});
