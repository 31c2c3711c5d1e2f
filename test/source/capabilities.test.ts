import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseInfoFeatures, findTracefs, detectCapabilities, assertRunnable, type Capabilities } from '../../src/source/capabilities.js';
import { EnvironmentError } from '../../src/errors.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const info = (f: string) => readFileSync(join(FIX, 'bpftrace-info', f), 'utf8');

describe('parseInfoFeatures', () => {
  it('bpftrace 0.17 (real output): kprobe yes, kfunc no', () => {
    expect(parseInfoFeatures(info('0.17.0.txt'))).toEqual({ fentry: false, kprobe: true });
  });

  it('bpftrace 0.17 with kfunc support', () => {
    expect(parseInfoFeatures(info('0.17.0.txt').replace('kfunc: no', 'kfunc: yes'))).toEqual({ fentry: true, kprobe: true });
  });

  it('bpftrace 0.23 two-column layout: fentry is found in the second column', () => {
    expect(parseInfoFeatures(info('0.23.2-fentry-reconstructed.txt'))).toEqual({ fentry: true, kprobe: true });
    expect(parseInfoFeatures(info('0.23.2-no-fentry-reconstructed.txt'))).toEqual({ fentry: false, kprobe: false });
  });

  it('look-alike keys do not count', () => {
    expect(parseInfoFeatures('  kprobe_multi: yes\n  uprobe_multi: yes\n  fentry_x: yes\n  xkprobe: yes\n')).toEqual({ fentry: false, kprobe: false });
    expect(parseInfoFeatures('  kprobe: yesterday\n  fentry: no\n')).toEqual({ fentry: false, kprobe: false });
    expect(parseInfoFeatures('')).toEqual({ fentry: false, kprobe: false });
  });
});

describe('findTracefs', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'droptrace-sys-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const sys = (name: string, dirs: string[]) => {
    const s = join(root, name);
    for (const d of dirs) mkdirSync(join(s, d), { recursive: true });
    return s;
  };

  it('prefers /sys/kernel/tracing when its events are there', async () => {
    const s = sys('both', ['kernel/tracing/events/skb', 'kernel/debug/tracing/events/skb']);
    expect(await findTracefs(s, undefined)).toEqual({ path: join(s, 'kernel/tracing'), mountedByUs: false });
  });

  it('falls back to the debugfs location', async () => {
    const s = sys('debug-only', ['kernel/tracing/events', 'kernel/debug/tracing/events/skb']);
    expect(await findTracefs(s, undefined)).toEqual({ path: join(s, 'kernel/debug/tracing'), mountedByUs: false });
  });

  it('mounts tracefs when the mount point is empty, and says so', async () => {
    const s = sys('unmounted', ['kernel/tracing']);
    const calls: string[] = [];
    const r = await findTracefs(s, async (target) => {
      calls.push(target);
      mkdirSync(join(target, 'events/skb'), { recursive: true }); // what a real mount would show
      return true;
    });
    expect(calls).toEqual([join(s, 'kernel/tracing')]);
    expect(r).toEqual({ path: join(s, 'kernel/tracing'), mountedByUs: true });
  });

  it('a failed mount is an error, not a crash', async () => {
    const s = sys('mount-fails', ['kernel/tracing']);
    const r = await findTracefs(s, async () => false);
    expect(r.path).toBeNull();
    expect(r.mountedByUs).toBe(false);
    expect(r.error).toContain('mounting it on');
  });

  it('a mount that "succeeds" but shows no events is not trusted', async () => {
    const s = sys('mount-empty', ['kernel/tracing']);
    const r = await findTracefs(s, async () => true);
    expect(r.path).toBeNull();
  });

  it('without permission to mount (not root), it reports where it looked', async () => {
    const s = sys('nothing', ['kernel']);
    const r = await findTracefs(s, undefined);
    expect(r.path).toBeNull();
    expect(r.error).toContain(`${s}/kernel/tracing`);
    expect(r.error).toContain(`${s}/kernel/debug/tracing`);
  });

  it('no mount point at all: mount is not attempted', async () => {
    const s = sys('no-mountpoint', ['kernel']);
    let called = false;
    const r = await findTracefs(s, async () => (called = true));
    expect(called).toBe(false);
    expect(r.path).toBeNull();
  });
});

describe('detectCapabilities with injected paths', () => {
  let root: string;
  let fakeBpftrace: string;
  const fakeBpftrace023 = () => join(root, 'bpftrace-0.23');
  const fakeBpftrace020 = () => join(root, 'bpftrace-0.20');
  const fakeBpftrace021 = () => join(root, 'bpftrace-0.21');

  interface Layout {
    btf?: boolean;
    kfreeFormat?: string | null; // fixture file name, or null for missing
    retransmit?: boolean;
    synack?: boolean;
    tcpProbe?: boolean;
    setState?: boolean;
    kprobeEvents?: boolean;
    kallsyms?: string;
    kptrRestrict?: string;
  }
  let n = 0;
  function layout(l: Layout): { sysRoot: string; procRoot: string } {
    const base = join(root, `case-${++n}`);
    const sysRoot = join(base, 'sys');
    const procRoot = join(base, 'proc');
    const tracing = join(sysRoot, 'kernel/tracing');
    mkdirSync(join(tracing, 'events/sched'), { recursive: true });
    mkdirSync(join(procRoot, 'sys/kernel'), { recursive: true });
    if (l.btf !== false) {
      mkdirSync(join(sysRoot, 'kernel/btf'), { recursive: true });
      writeFileSync(join(sysRoot, 'kernel/btf/vmlinux'), 'BTF');
    }
    const kfree = l.kfreeFormat === undefined ? 'kfree_skb.format' : l.kfreeFormat;
    if (kfree) {
      mkdirSync(join(tracing, 'events/skb/kfree_skb'), { recursive: true });
      copyFileSync(join(FIX, 'tracefs', kfree), join(tracing, 'events/skb/kfree_skb/format'));
    }
    for (const [on, name] of [[l.retransmit !== false, 'tcp_retransmit_skb'], [l.synack !== false, 'tcp_retransmit_synack'], [l.tcpProbe !== false, 'tcp_probe']] as const) {
      if (!on) continue;
      mkdirSync(join(tracing, 'events/tcp', name), { recursive: true });
      writeFileSync(join(tracing, 'events/tcp', name, 'format'), `name: ${name}\n`);
    }
    if (l.setState !== false) {
      mkdirSync(join(tracing, 'events/sock/inet_sock_set_state'), { recursive: true });
      writeFileSync(join(tracing, 'events/sock/inet_sock_set_state/format'), 'name: inet_sock_set_state\n');
    }
    if (l.kprobeEvents) writeFileSync(join(tracing, 'kprobe_events'), '');
    writeFileSync(join(procRoot, 'kallsyms'), l.kallsyms ?? 'ffffffff81000000 T _stext\nffffffff81c00000 T tcp_send_loss_probe\nffffffff81c00400 T tcp_retransmit_skb\n');
    writeFileSync(join(procRoot, 'sys/kernel/kptr_restrict'), l.kptrRestrict ?? '0\n');
    return { sysRoot, procRoot };
  }

  async function detect(l: Layout, infoText: string, uid = 0, bpftrace = fakeBpftrace): Promise<Capabilities> {
    const { sysRoot, procRoot } = layout(l);
    return detectCapabilities({ bpftrace, uid, sysRoot, procRoot, info: async () => infoText, mountTracefs: async () => false });
  }
  const variantOf = (c: Capabilities, s: string) => c.signals.find((x) => x.signal === s)!;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'droptrace-caps-'));
    fakeBpftrace = join(root, 'bpftrace');
    writeFileSync(fakeBpftrace, '#!/bin/sh\necho "bpftrace v0.17.0"\n');
    chmodSync(fakeBpftrace, 0o755);
    for (const [file, v] of [[fakeBpftrace023, '0.23.2'], [fakeBpftrace020, '0.20.0'], [fakeBpftrace021, '0.21.0']] as const) {
      writeFileSync(file(), `#!/bin/sh\necho "bpftrace v${v}"\n`);
      chmodSync(file(), 0o755);
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('this machine’s shape with bpftrace 0.17: drops via tracepoint, no kprobes, no fentry → TLP inferred, incoming loss via tcp_probe', async () => {
    const c = await detect({}, info('0.17.0.txt'));
    expect(c.root).toBe(true);
    expect(c.bpftrace.version.text).toBe('0.17.0');
    expect(c.bpftrace.fentrySupported).toBe(false);
    expect(c.btf).toBe(true);
    expect(c.tracefs.mountedByUs).toBe(false);
    expect(c.kallsyms).toEqual({ readable: true, kptrRestrict: 0 });
    expect(c.dropReasons).toBe(true);
    // This kernel (6.18) passes the receiving socket to kfree_skb.
    expect(c.dropRxSk).toBe(true);
    expect(c.signals.map((s) => [s.signal, s.variant, s.degraded])).toEqual([
      ['drops', 'tracepoint', false],
      ['retransmits', 'tracepoint', false],
      ['synack-retransmits', 'tracepoint', false],
      ['loss-probes', 'inferred', true],
      ['incoming-loss', 'tracepoint', false],
      ['flow-ends', 'tracepoint', false],
    ]);
    expect(variantOf(c, 'loss-probes').detail).toContain('kernel built without kprobes');
    // 0.17 rejects rawtracepoint attach points: the perf tracepoint, whose skips are counted.
    expect(variantOf(c, 'drops').files).toEqual(['drops/kfree_skb.bt']);
    expect(variantOf(c, 'drops').detail).toContain('kernel-missed');
    expect(variantOf(c, 'incoming-loss').files).toEqual(['incoming-loss/tcp_probe.bt']);
    expect(() => assertRunnable(c)).not.toThrow();
  });

  it('this machine’s shape with bpftrace 0.23: every tracepoint signal via its raw tracepoint (fast start, not skipped for other programs)', async () => {
    const c = await detect({}, info('0.23.2-no-fentry-reconstructed.txt'), 0, fakeBpftrace023());
    expect(c.bpftrace.version.text).toBe('0.23.2');
    expect(c.signals.map((s) => [s.signal, s.variant, s.degraded])).toEqual([
      ['drops', 'rawtracepoint', false],
      ['retransmits', 'rawtracepoint', false],
      ['synack-retransmits', 'rawtracepoint', false],
      ['loss-probes', 'inferred', true],
      ['incoming-loss', 'rawtracepoint', false],
      ['flow-ends', 'rawtracepoint', false],
    ]);
    expect(c.signals.map((s) => s.files)).toEqual([
      ['drops/kfree_skb.raw.bt'], ['retransmits/tcp_retransmit_skb.raw.bt'], ['retransmits/tcp_retransmit_synack.raw.bt'], [],
      ['incoming-loss/tcp_probe.raw.bt'], ['flow-ends/inet_sock_set_state.raw.bt'],
    ]);
    // Still only where the tracepoint exists.
    expect(variantOf(await detect({ tcpProbe: false }, info('0.23.2-no-fentry-reconstructed.txt'), 0, fakeBpftrace023()), 'incoming-loss').variant).toBe('unavailable');
    expect(variantOf(c, 'drops').files).toEqual(['drops/kfree_skb.raw.bt']);
    expect(variantOf(c, 'drops').detail).toContain('rawtracepoint:kfree_skb');
    expect(() => assertRunnable(c)).not.toThrow();
  });

  it('rawtracepoint from bpftrace 0.21 on; 0.20 keeps the tracepoint', async () => {
    expect(variantOf(await detect({}, info('0.17.0.txt'), 0, fakeBpftrace020()), 'drops').variant).toBe('tracepoint');
    expect(variantOf(await detect({}, info('0.17.0.txt'), 0, fakeBpftrace021()), 'drops').variant).toBe('rawtracepoint');
  });

  it('the raw tracepoint still needs a kernel with drop reasons', async () => {
    const c = await detect({ kfreeFormat: null }, info('0.17.0.txt'), 0, fakeBpftrace023());
    expect(variantOf(c, 'drops')).toMatchObject({ variant: 'unavailable', degraded: true, files: [] });
    expect(variantOf(c, 'drops').detail).toContain('skb:kfree_skb missing');
  });

  it('kfree_skb without rx_sk (before 6.11): drops still traced, rx_sk not read', async () => {
    for (const f of ['kfree_skb-5.17-synthetic.format', 'kfree_skb-6.0-synthetic.format']) {
      const c = await detect({ kfreeFormat: f }, info('0.17.0.txt'));
      expect(c.dropRxSk).toBe(false);
      expect(variantOf(c, 'drops').variant).toBe('tracepoint');
    }
  });

  it('no inet_sock_set_state tracepoint: flows end by idle timeout only, nothing else changes', async () => {
    const c = await detect({ setState: false }, info('0.17.0.txt'));
    expect(variantOf(c, 'flow-ends')).toMatchObject({ variant: 'unavailable', degraded: true, files: [] });
    expect(variantOf(c, 'flow-ends').detail).toContain('idle timeout');
    expect(c.signals.filter((s) => s.signal !== 'flow-ends' && s.signal !== 'loss-probes').every((s) => !s.degraded)).toBe(true);
    expect(variantOf(await detect({}, info('0.17.0.txt')), 'flow-ends').files).toEqual(['flow-ends/inet_sock_set_state.bt']);
  });

  it('no tcp_probe tracepoint: only incoming loss is unavailable', async () => {
    const c = await detect({ tcpProbe: false }, info('0.17.0.txt'));
    expect(variantOf(c, 'incoming-loss')).toMatchObject({ variant: 'unavailable', degraded: true, files: [] });
    expect(variantOf(c, 'incoming-loss').detail).toContain('tcp:tcp_probe missing');
    expect(variantOf(c, 'retransmits').variant).toBe('tracepoint');
    expect(variantOf(c, 'drops').variant).toBe('tracepoint');
  });

  it('fentry from a 0.23-style --info wins over kprobe', async () => {
    const c = await detect({ kprobeEvents: true }, info('0.23.2-fentry-reconstructed.txt'));
    expect(variantOf(c, 'loss-probes')).toMatchObject({ variant: 'fentry', files: ['loss-probe/fentry.bt'], degraded: false });
  });

  it('fentry needs BTF; without it kprobe is next', async () => {
    const c = await detect({ kprobeEvents: true, btf: false }, info('0.23.2-fentry-reconstructed.txt'));
    expect(c.btf).toBe(false);
    expect(variantOf(c, 'loss-probes')).toMatchObject({ variant: 'kprobe', files: ['loss-probe/kprobe.bt'] });
    expect(() => assertRunnable(c)).toThrow(/BTF/);
  });

  it('kprobe needs the function in kallsyms', async () => {
    const c = await detect({ kprobeEvents: true, kallsyms: 'ffffffff81000000 T _stext\nffffffff81000100 t tcp_send_loss_probe.cold\n' }, info('0.17.0.txt'));
    expect(variantOf(c, 'loss-probes').variant).toBe('inferred');
    expect(variantOf(c, 'loss-probes').detail).toContain('tcp_send_loss_probe not in kallsyms');
  });

  it('hidden kernel addresses are reported', async () => {
    const c = await detect({ kallsyms: '0000000000000000 T _stext\n0000000000000000 T tcp_send_loss_probe\n', kptrRestrict: '2\n' }, info('0.17.0.txt'));
    expect(c.kallsyms).toEqual({ readable: false, kptrRestrict: 2 });
  });

  it('a kernel without drop reasons degrades only the drops signal', async () => {
    const noReason = join(root, 'kfree-no-reason.format');
    writeFileSync(noReason, 'name: kfree_skb\nformat:\n\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;\n');
    const l = layout({});
    copyFileSync(noReason, join(l.sysRoot, 'kernel/tracing/events/skb/kfree_skb/format'));
    const c = await detectCapabilities({ bpftrace: fakeBpftrace, uid: 0, sysRoot: l.sysRoot, procRoot: l.procRoot, info: async () => info('0.17.0.txt'), mountTracefs: async () => false });
    expect(c.dropReasons).toBe(false);
    expect(variantOf(c, 'drops')).toMatchObject({ variant: 'unavailable', degraded: true });
    expect(variantOf(c, 'drops').detail).toContain('kernel < 5.17');
    expect(variantOf(c, 'retransmits').variant).toBe('tracepoint');
    expect(() => assertRunnable(c)).not.toThrow();
  });

  it('older kernels with reasons starting at 0 or 1 still have drop reasons', async () => {
    for (const f of ['kfree_skb-6.0-synthetic.format', 'kfree_skb-5.17-synthetic.format']) {
      const c = await detect({ kfreeFormat: f }, info('0.17.0.txt'));
      expect(c.dropReasons, f).toBe(true);
      expect(variantOf(c, 'drops').variant).toBe('tracepoint');
    }
  });

  it('no retransmit tracepoints and no way to see loss probes', async () => {
    const c = await detect({ retransmit: false, synack: false }, info('0.17.0.txt'));
    expect(variantOf(c, 'retransmits')).toMatchObject({ variant: 'unavailable', degraded: true });
    expect(variantOf(c, 'synack-retransmits')).toMatchObject({ variant: 'unavailable', degraded: true });
    expect(variantOf(c, 'loss-probes')).toMatchObject({ variant: 'unavailable', degraded: true });
    expect(variantOf(c, 'drops').variant).toBe('tracepoint');
    expect(variantOf(c, 'incoming-loss').variant).toBe('tracepoint');
  });

  it('not root: reported, never mounts, and assertRunnable refuses', async () => {
    const c = await detect({}, info('0.17.0.txt'), 1000);
    expect(c.root).toBe(false);
    expect(() => assertRunnable(c)).toThrow(EnvironmentError);
    expect(() => assertRunnable(c)).toThrow(/root/);
  });

  it('no tracefs at all: every tracepoint signal is unavailable and assertRunnable explains', async () => {
    const base = join(root, 'no-tracefs');
    mkdirSync(join(base, 'sys/kernel/btf'), { recursive: true });
    writeFileSync(join(base, 'sys/kernel/btf/vmlinux'), 'BTF');
    mkdirSync(join(base, 'proc'), { recursive: true });
    const c = await detectCapabilities({ bpftrace: fakeBpftrace, uid: 0, sysRoot: join(base, 'sys'), procRoot: join(base, 'proc'), info: async () => info('0.17.0.txt'), mountTracefs: async () => false });
    expect(c.tracefs.path).toBeNull();
    expect(variantOf(c, 'drops').detail).toContain('no tracefs');
    expect(variantOf(c, 'incoming-loss').variant).toBe('unavailable');
    expect(c.kallsyms).toEqual({ readable: false, kptrRestrict: null });
    const e = (() => { try { assertRunnable(c); } catch (x) { return x as EnvironmentError; } return null; })();
    expect(e).toBeInstanceOf(EnvironmentError);
    expect(e!.message).toContain('tracefs is unavailable');
    expect(e!.hint).toContain('mount -t tracefs');
  });

  it('a missing bpftrace fails before anything else', async () => {
    await expect(detectCapabilities({ bpftrace: join(root, 'missing'), uid: 0, info: async () => '' })).rejects.toBeInstanceOf(EnvironmentError);
  });
});
