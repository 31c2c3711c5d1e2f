// The capability chain: what this kernel and bpftrace allow, and which variant
// each signal uses, as the probe catalog (probes/*/probe.json) declares it:
// the first variant whose requirements hold, best first (raw tracepoint >
// tracepoint, fentry > kprobe > inferred). One unavailable signal never stops
// the others; it is reported as degraded with the reason.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { EnvironmentError } from '../errors.js';
import { type BpftraceCommand, type BpftraceVersion, type BpftraceChoice, chooseBpftrace, runBpftrace, versionAtLeast } from './bpftrace-binary.js';
import { loadCatalog, type Catalog, type Requirement, type SignalDef, type Variant } from './catalog.js';

export type { Variant } from './catalog.js';
/** A signal's name (probes/<signal>/probe.json "signal"). */
export type SignalName = string;

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
  /** The catalog's kernel features (a field a tracepoint passes or not), e.g. dropRxSk, retransmitErr. */
  features: Record<string, boolean>;
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
  catalog?: Catalog;
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

/** A tracepoint's format file ("category:event"), null when missing. */
export function tracepointFormat(tracefs: string | null, tracepoint: string): string | null {
  if (!tracefs) return null;
  const [cat, name] = tracepoint.split(':');
  try {
    return readFileSync(join(tracefs, 'events', cat, name, 'format'), 'utf8');
  } catch {
    return null;
  }
}

/** Does the format declare this field ("int err;")? Matched after the "field:" prefix or a space. */
export function formatHasField(format: string, field: string): boolean {
  const esc = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s:])${esc}`, 'm').test(format);
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
  const catalog = opts.catalog ?? loadCatalog();
  const { command, version, why } = await (opts.choose ?? chooseBpftrace)(opts.bpftrace);
  const info = await (opts.info ?? defaultInfo)(command);
  const feats = parseInfoFeatures(info);
  const btf = existsSync(join(sysRoot, 'kernel/btf/vmlinux'));
  const tracefsOverride = opts.tracefs ?? (process.env.DROPTRACE_TRACEFS || undefined);
  const tracefs = tracefsOverride !== undefined
    ? explicitTracefs(tracefsOverride)
    : await findTracefs(sysRoot, uid === 0 ? opts.mountTracefs ?? mountTracefs : undefined);
  const kallsyms = readKallsymsState(procRoot);

  const formats = new Map<string, string | null>();
  const format = (tp: string) => {
    if (!formats.has(tp)) formats.set(tp, tracepointFormat(tracefs.path, tp));
    return formats.get(tp)!;
  };
  const features: Record<string, boolean> = {};
  for (const f of catalog.features.values()) {
    const text = format(f.tracepoint);
    features[f.name] = !!text && formatHasField(text, f.field);
  }
  const check = (r: Requirement): string | null => {
    if ('tracepoint' in r) {
      if (!tracefs.path) return `no tracefs: ${tracefs.error}`;
      return format(r.tracepoint) ? null : r.why ?? `tracepoint ${r.tracepoint} missing`;
    }
    if ('feature' in r) return features[r.feature] ? null : r.missing;
    if ('bpftrace' in r) {
      const [major, minor] = r.bpftrace.split('.').map(Number);
      return versionAtLeast(version, major, minor) ? null : r.why ?? `bpftrace ${version.text} is older than ${r.bpftrace}`;
    }
    if ('bpftraceFeature' in r) return feats[r.bpftraceFeature] ? null : r.why ?? `bpftrace cannot attach ${r.bpftraceFeature}`;
    if ('btf' in r) return btf ? null : r.why ?? 'no kernel BTF';
    // Say which side lacks it: bpftrace's --info reports what bpftrace can
    // do, the kernel may still lack it (this VM: bpftrace "kprobe: yes",
    // kernel built without kprobes).
    const kp = kprobeTarget(sysRoot, tracefs.path, procRoot, r.kprobe);
    return kp.ok ? null : `${kp.why}${feats.kprobe ? ' (bpftrace itself supports kprobes)' : ''}`;
  };
  const signals = catalog.signals.map((s) => chooseVariant(s, check));
  return {
    root: uid === 0,
    bpftrace: { command, version, why, fentrySupported: feats.fentry, kprobeSupported: feats.kprobe },
    btf,
    tracefs,
    kallsyms,
    features,
    signals,
  };
}

/**
 * The first variant whose requirements all hold. A degraded one (it sees
 * less) says why each better one was not possible; an unavailable signal says
 * what it lacks.
 */
export function chooseVariant(s: SignalDef, check: (r: Requirement) => string | null): SignalChoice {
  const missing = s.requires.map(check).find((w) => w !== null);
  const rejected: string[] = [];
  if (!missing) {
    for (const v of s.variants) {
      const why = v.requires.map(check).find((w) => w !== null);
      if (why) {
        rejected.push(`${v.name}: ${why}`);
        continue;
      }
      return {
        signal: s.name, variant: v.name, files: [...v.programs], degraded: v.degraded,
        detail: v.degraded && rejected.length ? `${v.detail}: ${rejected.join('; ')}` : v.detail,
      };
    }
  }
  const why = missing ?? (rejected.length ? rejected.join('; ') : 'no variant');
  return { signal: s.name, variant: 'unavailable', files: [], degraded: true, detail: s.unavailable ? `${why}: ${s.unavailable}` : why };
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
