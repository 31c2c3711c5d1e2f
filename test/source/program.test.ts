import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram, PROBES_DIR } from '../../src/source/program.js';
import type { SignalChoice } from '../../src/source/capabilities.js';
import type { BpftraceVersion } from '../../src/source/bpftrace-binary.js';
import { compilePredicate } from '../../src/filters/predicate.js';
import { parseFilters } from '../../src/filters/filters.js';
import { UsageError } from '../../src/errors.js';

const V017: BpftraceVersion = { major: 0, minor: 17, patch: 0, text: '0.17.0' };
const V019: BpftraceVersion = { major: 0, minor: 19, patch: 1, text: '0.19.1' };
const V020: BpftraceVersion = { major: 0, minor: 20, patch: 0, text: '0.20.0' };
const V023: BpftraceVersion = { major: 0, minor: 23, patch: 2, text: '0.23.2' };
const V100: BpftraceVersion = { major: 1, minor: 0, patch: 0, text: '1.0.0' };

const sig = (signal: SignalChoice['signal'], variant: SignalChoice['variant'], files: string[]): SignalChoice => ({ signal, variant, files, detail: '', degraded: false });
const DROPS = sig('drops', 'tracepoint', ['drops/kfree_skb.bt']);
const RETRANS = sig('retransmits', 'tracepoint', ['retransmits/tcp_retransmit_skb.bt']);
const SYNACK = sig('synack-retransmits', 'tracepoint', ['retransmits/tcp_retransmit_synack.bt']);
const TLP_FENTRY = sig('loss-probes', 'fentry', ['loss-probe/fentry.bt']);
const TLP_KPROBE = sig('loss-probes', 'kprobe', ['loss-probe/kprobe.bt']);
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

  it('leaves no placeholder anywhere, comments included', () => {
    for (const v of [V017, V023]) {
      const p = buildProgram({ signals: [...ALL, TLP_KPROBE], version: v, dropPredicate: '($sport == 53)', tcpSockPredicate: '($netns == 7)', minReason: 2 });
      expect(p.text).not.toMatch(/DROPTRACE_/);
    }
  });

  it('expands the shared socket include once per socket probe', () => {
    const inc = readFileSync(join(PROBES_DIR, 'shared/tcp-socket-fields.bt.inc'), 'utf8');
    const marker = '$netns = $sk->__sk_common.skc_net.net->ns.inum;';
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
    expect(t).toContain('((struct sk_buff *)args->skbaddr)->len, cpu);');
    expect(count(t, ', 0, cpu);')).toBe(2);
  });

  it('puts each predicate in its probe kind only', () => {
    const drop = compilePredicate({ ...parseFilters({ port: ['53'] }), ifindexes: [], reasonCodes: [12], excludeReasonCodes: [] }, 'drop')!;
    const sock = compilePredicate({ ...parseFilters({ port: ['53'] }), ifindexes: [], reasonCodes: [], excludeReasonCodes: [] }, 'tcp-sock')!;
    const p = buildProgram({ signals: ALL, version: V023, dropPredicate: drop, tcpSockPredicate: sock, minReason: 2 });
    const t = code(p.text);
    expect(count(t, `if (${drop}) {`)).toBe(1);
    expect(count(t, `if (${sock}) {`)).toBe(3);
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

  it('substitutes the smallest real drop reason (0 on 5.17/5.18, 1 on 5.19–6.2, 2 since 6.3)', () => {
    const gate = (minReason: number) => {
      const t = code(buildProgram({ signals: [DROPS], version: V023, dropPredicate: '1', tcpSockPredicate: null, minReason }).text);
      return /if \(args->reason >= (\S+)\) \{/.exec(t)?.[1];
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
  writeFileSync(join(dir, 'p/nested.bt'), 'tracepoint:a:b\n{\n  DROPTRACE_INCLUDE(shared/outer.inc)\n  if (DROPTRACE_FILTER_DROP) { printf("x\\n"); }\n}\n');
  writeFileSync(join(dir, 'p/escape.bt'), 'tracepoint:a:b\n{\n  DROPTRACE_INCLUDE(../outside.inc)\n}\n');
  writeFileSync(join(dir, 'p/unknown.bt'), 'tracepoint:a:b\n{\n  if (DROPTRACE_SOMETHING_NEW) { }\n}\n');
  writeFileSync(join(dir, 'p/comment.bt'), '// mentions DROPTRACE_SOMETHING_NEW in a comment\ntracepoint:a:b { }\n');
  writeFileSync(join(dir, '..', 'outside.inc'), '  system("id");\n');

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
