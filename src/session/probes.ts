// `droptrace probes`: what this kernel and bpftrace allow, and which variant
// each signal of the probe catalog uses (table, or --json); this kernel's drop
// reasons (--reasons); every variant compiled without attaching (--compile-check).
import type { Writable } from 'node:stream';
import { detectCapabilities } from '../source/capabilities.js';
import { loadReasons } from '../enrich/reasons.js';
import { escapeForTerminal } from '../text/escape.js';
import { compileCheck } from '../source/compile-check.js';
import { TracerError } from '../errors.js';

export interface ProbesOptions {
  bpftrace?: string;
  json: boolean;
  reasons: boolean;
  'compile-check': boolean;
}

export async function probesReport(a: ProbesOptions, deps: { stdout?: Writable } = {}): Promise<void> {
  const stdout = deps.stdout ?? process.stdout;
  const c = await detectCapabilities({ bpftrace: a.bpftrace });
  const reasons = c.tracefs.path ? loadReasons(c.tracefs.path) : undefined;
  if (a['compile-check']) {
    const results = await compileCheck(c, reasons?.minCode() ?? 2);
    if (a.json) stdout.write(JSON.stringify({ bpftrace: c.bpftrace.version.text, results }, null, 2) + '\n');
    else {
      stdout.write(`compile check with bpftrace ${escapeForTerminal(c.bpftrace.version.text)} (--emit-elf, nothing attached)\n`);
      const nameWidth = Math.max(...results.map((x) => x.variant.length)) + 2;
      for (const r of results) stdout.write(`${r.variant.padEnd(nameWidth)}${r.mode.padEnd(11)}${r.status.padEnd(11)}${escapeForTerminal(r.detail)}\n`);
    }
    const failed = results.filter((r) => r.status === 'failed');
    if (failed.length) throw new TracerError(`${failed.length} probe variant(s) failed to compile: ${failed.map((f) => `${f.variant} (${f.mode})`).join(', ')}`);
    return;
  }
  const report = {
    root: c.root,
    bpftrace: { path: c.bpftrace.command.display, version: c.bpftrace.version.text, why: c.bpftrace.why, fentry: c.bpftrace.fentrySupported, kprobe: c.bpftrace.kprobeSupported },
    btf: c.btf,
    tracefs: c.tracefs,
    kallsyms: c.kallsyms,
    dropReasons: { available: c.features.dropReasons, count: reasons?.size ?? 0, ...(a.reasons ? { names: reasons?.names() ?? [] } : {}) },
    signals: c.signals.map((s) => ({ signal: s.signal, variant: s.variant, degraded: s.degraded, detail: s.detail })),
  };
  if (a.json) {
    stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const yes = (b: boolean) => (b ? 'yes' : 'NO');
  const rows: [string, string][] = [
    ['running as root', yes(c.root)],
    ['bpftrace', `${report.bpftrace.path} v${report.bpftrace.version}: ${c.bpftrace.why}`],
    ['bpftrace can attach', `fentry ${yes(c.bpftrace.fentrySupported)}, kprobe ${yes(c.bpftrace.kprobeSupported)} (whether this kernel allows them: see the signals below)`],
    ['kernel BTF', yes(c.btf)],
    ['tracefs', c.tracefs.path ? `${c.tracefs.path}${c.tracefs.mountedByUs ? ' (mounted by droptrace)' : ''}` : `NO: ${c.tracefs.error}`],
    ['kallsyms readable', `${yes(c.kallsyms.readable)} (kptr_restrict=${c.kallsyms.kptrRestrict ?? '?'})`],
    ['drop reasons', c.features.dropReasons ? `${reasons?.size ?? 0} names from the running kernel` : 'NO (kernel < 5.17?)'],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) stdout.write(`${k.padEnd(w)}  ${escapeForTerminal(v)}\n`);
  stdout.write('\nSIGNAL              VARIANT        STATUS    DETAIL\n');
  for (const s of c.signals) {
    const status = s.variant === 'unavailable' ? 'OFF' : s.degraded ? 'degraded' : 'ok';
    stdout.write(`${s.signal.padEnd(20)}${s.variant.padEnd(15)}${status.padEnd(10)}${escapeForTerminal(s.detail)}\n`);
  }
  if (a.reasons && reasons) stdout.write('\nDrop reasons: ' + reasons.names().join(' ') + '\n');
}
