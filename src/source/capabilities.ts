// The capability chain: what this kernel and bpftrace allow, and which variant
// each signal uses. Best first: tracepoint > fentry > kprobe > inferred.
// One unavailable signal never stops the others; it is reported as degraded
// with the reason.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { EnvironmentError } from '../errors.js';
import { type BpftraceCommand, type BpftraceVersion, type BpftraceChoice, chooseBpftrace, runBpftrace, versionAtLeast } from './bpftrace-binary.js';

export type SignalName = 'drops' | 'retransmits' | 'synack-retransmits' | 'loss-probes' | 'incoming-loss' | 'flow-ends';
/** The kernel event (tracepoint / function) each signal's program attaches to. */
export const SIGNAL_EVENTS: Record<SignalName, string> = {
  drops: 'kfree_skb',
  retransmits: 'tcp_retransmit_skb',
  'synack-retransmits': 'tcp_retransmit_synack',
  'loss-probes': 'tcp_send_loss_probe',
  'incoming-loss': 'tcp_probe',
  'flow-ends': 'inet_sock_set_state',
};

export type Variant = 'tracepoint' | 'rawtracepoint' | 'fentry' | 'kprobe' | 'inferred' | 'unavailable';

export interface SignalChoice {
  signal: SignalName;
  variant: Variant;
  /** Probe files (relative to probes/) used by this variant. */
  files: string[];
  detail: string;
  degraded: boolean;
}

export interface Capabilities {
  root: boolean;
  bpftrace: { command: BpftraceCommand; version: BpftraceVersion; why: string; fentrySupported: boolean; kprobeSupported: boolean };
  btf: boolean;
  tracefs: { path: string | null; mountedByUs: boolean; error?: string };
  kallsyms: { readable: boolean; kptrRestrict: number | null };
  dropReasons: boolean;
  /** kfree_skb carries the receiving socket (rx_sk, 6.11+). */
  dropRxSk: boolean;
  /** tcp_retransmit_skb carries the attempt's result (err): it then also fires for attempts that sent nothing. */
  retransmitErr: boolean;
  signals: SignalChoice[];
}

export interface DetectOptions {
  bpftrace?: string;
  uid?: number;
  sysRoot?: string; // "/sys" — injectable for tests
  procRoot?: string; // "/proc"
  mountTracefs?: (path: string) => Promise<boolean>;
  /** Use this tracefs mount instead of searching sysRoot; never mounted. Default: env DROPTRACE_TRACEFS. */
  tracefs?: string;
  /** Probe `bpftrace --info` (skipped in unit tests). */
  info?: (cmd: BpftraceCommand) => Promise<string>;
  /** Choose the bpftrace (default: chooseBpftrace — the given one, else the newest of the private install and the system's). */
  choose?: (spec: string | undefined) => Promise<BpftraceChoice>;
}

const TRACEFS_CANDIDATES = ['kernel/tracing', 'kernel/debug/tracing'];

function nonEmptyDir(p: string): boolean {
  try {
    return readdirSync(p).length > 0;
  } catch {
    return false;
  }
}

export async function findTracefs(sysRoot: string, mount: DetectOptions['mountTracefs']): Promise<Capabilities['tracefs']> {
  for (const c of TRACEFS_CANDIDATES) {
    const p = join(sysRoot, c);
    if (nonEmptyDir(join(p, 'events'))) return { path: p, mountedByUs: false };
  }
  const target = join(sysRoot, TRACEFS_CANDIDATES[0]);
  if (mount && existsSync(target)) {
    const ok = await mount(target);
    if (ok && nonEmptyDir(join(target, 'events'))) return { path: target, mountedByUs: true };
    return { path: null, mountedByUs: false, error: `tracefs is not mounted and mounting it on ${target} failed` };
  }
  return { path: null, mountedByUs: false, error: `tracefs not found under ${sysRoot}/kernel/tracing or ${sysRoot}/kernel/debug/tracing` };
}

/** An explicitly named tracefs (DROPTRACE_TRACEFS): used as is, or reported missing. */
export function explicitTracefs(path: string): Capabilities['tracefs'] {
  if (nonEmptyDir(join(path, 'events'))) return { path, mountedByUs: false };
  return { path: null, mountedByUs: false, error: `no tracefs at ${path} (DROPTRACE_TRACEFS): ${join(path, 'events')} is missing or empty` };
}

export function mountTracefs(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('mount', ['-t', 'tracefs', 'nodev', path], { timeout: 5000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err) => resolve(!err));
  });
}

function tracepointFormat(tracefs: string | null, cat: string, name: string): string | null {
  if (!tracefs) return null;
  try {
    return readFileSync(join(tracefs, 'events', cat, name, 'format'), 'utf8');
  } catch {
    return null;
  }
}

function readKallsymsState(procRoot: string): Capabilities['kallsyms'] {
  let kptrRestrict: number | null = null;
  try {
    kptrRestrict = Number(readFileSync(join(procRoot, 'sys/kernel/kptr_restrict'), 'utf8').trim());
  } catch { /* unknown */ }
  try {
    const head = readFileSync(join(procRoot, 'kallsyms'), { encoding: 'utf8', flag: 'r' }).slice(0, 4096);
    const readable = head.split('\n').some((l) => /^[0-9a-f]+ /.test(l) && !/^0+ /.test(l));
    return { readable, kptrRestrict };
  } catch {
    return { readable: false, kptrRestrict };
  }
}

/** A kernel function is kprobe-able if kprobes exist and the symbol is in kallsyms. */
function kprobeTarget(sysRoot: string, tracefs: string | null, procRoot: string, fn: string): { ok: boolean; why: string } {
  const kprobeEvents = tracefs ? existsSync(join(tracefs, 'kprobe_events')) : false;
  const kprobePmu = existsSync(join(sysRoot, 'bus/event_source/devices/kprobe'));
  if (!kprobeEvents && !kprobePmu) return { ok: false, why: 'kernel built without kprobes (no kprobe_events, no kprobe PMU)' };
  try {
    const syms = readFileSync(join(procRoot, 'kallsyms'), 'utf8');
    if (!new RegExp(`^[0-9a-f]+ [tT] ${fn}$`, 'm').test(syms)) return { ok: false, why: `${fn} not in kallsyms (inlined or renamed)` };
  } catch {
    return { ok: false, why: 'kallsyms unreadable' };
  }
  return { ok: true, why: '' };
}

async function defaultInfo(cmd: BpftraceCommand): Promise<string> {
  const r = await runBpftrace(cmd, ['--info'], 20_000);
  return r.stdout + r.stderr;
}

export function parseInfoFeatures(info: string): { fentry: boolean; kprobe: boolean } {
  // 0.17 says "kfunc: yes", 0.2x "fentry: yes". Since 0.22 --info prints two
  // entries per line ("  perf_event: yes                  fentry: yes"), so an
  // entry may start after whitespace, not only at the start of a line.
  const fentry = /(?:^|\s)(?:kfunc|fentry):[ \t]*yes\b/m.test(info);
  const kprobe = /(?:^|\s)kprobe:[ \t]*yes\b/m.test(info);
  return { fentry, kprobe };
}

export async function detectCapabilities(opts: DetectOptions = {}): Promise<Capabilities> {
  const sysRoot = opts.sysRoot ?? '/sys';
  const procRoot = opts.procRoot ?? '/proc';
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const { command, version, why } = await (opts.choose ?? chooseBpftrace)(opts.bpftrace);
  const info = await (opts.info ?? defaultInfo)(command);
  const feats = parseInfoFeatures(info);
  const btf = existsSync(join(sysRoot, 'kernel/btf/vmlinux'));
  const tracefsOverride = opts.tracefs ?? (process.env.DROPTRACE_TRACEFS || undefined);
  const tracefs = tracefsOverride !== undefined
    ? explicitTracefs(tracefsOverride)
    : await findTracefs(sysRoot, uid === 0 ? opts.mountTracefs ?? mountTracefs : undefined);
  const kallsyms = readKallsymsState(procRoot);

  const kfree = tracepointFormat(tracefs.path, 'skb', 'kfree_skb');
  const dropReasons = !!kfree && /enum skb_drop_reason reason;/.test(kfree);
  const dropRxSk = !!kfree && /void \* rx_sk;/.test(kfree);
  const signals: SignalChoice[] = [];

  if (kfree && dropReasons && versionAtLeast(version, 0, 21)) {
    // Raw tracepoint first: unlike a perf-based tracepoint it is not skipped
    // while another of our programs runs on the CPU (see probes/drops/kfree_skb.raw.bt).
    // bpftrace 0.17 rejects rawtracepoint attach points ("Invalid probe type").
    signals.push({ signal: 'drops', variant: 'rawtracepoint', files: ['drops/kfree_skb.raw.bt'], detail: 'rawtracepoint:kfree_skb with drop reasons (skipped only when it would nest in itself on one CPU; each skip counted)', degraded: false });
  } else if (kfree && dropReasons) {
    signals.push({ signal: 'drops', variant: 'tracepoint', files: ['drops/kfree_skb.bt'], detail: 'tracepoint:skb:kfree_skb with drop reasons (may be skipped while another probe runs on the CPU: counted as kernel-missed)', degraded: false });
  } else {
    signals.push({
      signal: 'drops', variant: 'unavailable', files: [], degraded: true,
      detail: !tracefs.path ? `no tracefs: ${tracefs.error}` : kfree ? 'kfree_skb has no drop reason field (kernel < 5.17)' : 'tracepoint skb:kfree_skb missing',
    });
  }

  // The TCP signals' raw tracepoints (bpftrace >= 0.21) take the same
  // arguments as their perf tracepoints; bpftrace 0.23 starts them ~3x faster
  // and the kernel skips them only when one would nest in itself on a CPU
  // (counted), not whenever another of our programs runs. 0.17 keeps the tracepoints.
  const raw = versionAtLeast(version, 0, 21);
  const tcpSignal = (signal: SignalName, event: string, file: string, what: string): SignalChoice =>
    raw
      ? { signal, variant: 'rawtracepoint', files: [`${file}.raw.bt`], detail: `rawtracepoint:${event.split(':')[1]}${what}`, degraded: false }
      : { signal, variant: 'tracepoint', files: [`${file}.bt`], detail: `tracepoint:${event}${what}`, degraded: false };

  const rtx = tracepointFormat(tracefs.path, 'tcp', 'tcp_retransmit_skb');
  const retransmitErr = !!rtx && /\bint err;/.test(rtx);
  signals.push(rtx
    ? tcpSignal('retransmits', 'tcp:tcp_retransmit_skb', 'retransmits/tcp_retransmit_skb', '')
    : { signal: 'retransmits', variant: 'unavailable', files: [], detail: 'tracepoint tcp:tcp_retransmit_skb missing', degraded: true });

  const synack = tracepointFormat(tracefs.path, 'tcp', 'tcp_retransmit_synack');
  signals.push(synack
    ? tcpSignal('synack-retransmits', 'tcp:tcp_retransmit_synack', 'retransmits/tcp_retransmit_synack', '')
    : { signal: 'synack-retransmits', variant: 'unavailable', files: [], detail: 'tracepoint tcp:tcp_retransmit_synack missing', degraded: true });

  // Tail-loss probes have no tracepoint: fentry > kprobe > inferred from the
  // retransmit tracepoint's socket state (only probes that resend data).
  const kp = kprobeTarget(sysRoot, tracefs.path, procRoot, 'tcp_send_loss_probe');
  if (feats.fentry && btf) {
    signals.push({ signal: 'loss-probes', variant: 'fentry', files: ['loss-probe/fentry.bt'], detail: 'fentry:tcp_send_loss_probe (observed)', degraded: false });
  } else if (kp.ok && feats.kprobe) {
    signals.push({ signal: 'loss-probes', variant: 'kprobe', files: ['loss-probe/kprobe.bt'], detail: 'kprobe:tcp_send_loss_probe (observed)', degraded: false });
  } else if (rtx) {
    // Say which side lacks it: bpftrace's --info reports what bpftrace can do,
    // the kernel may still lack it (this VM: bpftrace "kprobe: yes", kernel
    // built without kprobes).
    const why = [
      feats.fentry ? (btf ? '' : 'no BTF for fentry') : 'fentry: no BPF trampolines on this kernel (or bpftrace without it)',
      kp.ok ? 'kprobe: bpftrace built without kprobe support' : `kprobe: ${kp.why}${feats.kprobe ? ' (bpftrace itself supports kprobes)' : ''}`,
    ].filter(Boolean).join('; ');
    signals.push({ signal: 'loss-probes', variant: 'inferred', files: [], detail: `inferred from tcp_retransmit_skb socket state (probes that send new data are not seen): ${why}`, degraded: true });
  } else {
    signals.push({ signal: 'loss-probes', variant: 'unavailable', files: [], detail: 'no fentry, no kprobe and no retransmit tracepoint', degraded: true });
  }

  // Incoming loss (receiver side): tcp_probe fires for every segment a socket
  // in ESTABLISHED receives; the probe filters in-order data after a few loads.
  const probe = tracepointFormat(tracefs.path, 'tcp', 'tcp_probe');
  signals.push(probe
    ? tcpSignal('incoming-loss', 'tcp:tcp_probe', 'incoming-loss/tcp_probe', ' (seq vs rcv_nxt and the out-of-order queue)')
    : { signal: 'incoming-loss', variant: 'unavailable', files: [], detail: 'tracepoint tcp:tcp_probe missing', degraded: true });

  // Connection ends (aggregating commands only): lossy TCP sockets closing, so
  // their flows get a final record at once; without it flows end by idle timeout.
  const setState = tracepointFormat(tracefs.path, 'sock', 'inet_sock_set_state');
  signals.push(setState
    ? tcpSignal('flow-ends', 'sock:inet_sock_set_state', 'flow-ends/inet_sock_set_state', ' (lossy TCP sockets reaching TCP_CLOSE)')
    : { signal: 'flow-ends', variant: 'unavailable', files: [], detail: 'tracepoint sock:inet_sock_set_state missing: flows end by idle timeout only', degraded: true });

  return {
    root: uid === 0,
    bpftrace: { command, version, why, fentrySupported: feats.fentry, kprobeSupported: feats.kprobe },
    btf,
    tracefs,
    kallsyms,
    dropReasons,
    dropRxSk,
    retransmitErr,
    signals,
  };
}

/** Fail early with a clear message when nothing at all can run. */
export function assertRunnable(c: Capabilities): void {
  if (!c.root) throw new EnvironmentError('droptrace must run as root (it loads BPF programs)', 'Run it with sudo, or as a root sidecar.');
  if (!c.tracefs.path) throw new EnvironmentError(`tracefs is unavailable: ${c.tracefs.error}`, 'Mount it with `mount -t tracefs nodev /sys/kernel/tracing`.');
  if (!c.btf) throw new EnvironmentError('kernel BTF (/sys/kernel/btf/vmlinux) is missing; the probes read kernel structs through BTF', 'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.4+ distributions ship it).');
  if (c.signals.every((s) => s.variant === 'unavailable' || s.variant === 'inferred')) {
    throw new EnvironmentError('no signal can be traced on this kernel: ' + c.signals.map((s) => `${s.signal}: ${s.detail}`).join('; '));
  }
}
