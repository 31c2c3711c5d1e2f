// Compile every bundled probe variant without attaching (`bpftrace
// --emit-elf`), including the ones this kernel cannot attach (kprobe, fentry),
// in both output modes (per-event stream and in-kernel aggregation). CI runs
// it so a variant that only real hosts use never rots unnoticed.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from './program.js';
import { runBpftrace, versionAtLeast } from './bpftrace-binary.js';
import { loadCatalog, type Catalog, type Requirement } from './catalog.js';
import type { Capabilities, SignalChoice } from './capabilities.js';

export interface CompileResult {
  variant: string;
  mode: 'stream' | 'aggregate';
  status: 'ok' | 'failed' | 'unchecked';
  detail: string;
}

/** Every variant we ship (the probe catalog's), one program each. */
export function allVariants(catalog: Catalog = loadCatalog()): Array<{ name: string; signal: SignalChoice; requires: readonly Requirement[] }> {
  return catalog.signals.flatMap((s) => s.variants.filter((v) => v.programs.length > 0).map((v) => ({
    name: `${s.name}/${v.name}`,
    signal: { signal: s.name, variant: v.name, files: [...v.programs], detail: '', degraded: false },
    requires: v.requires,
  })));
}

/**
 * Why a variant can't be compiled here at all: bpftrace refuses before
 * emitting code (a version without the attach type; fentry on a kernel
 * without BPF trampolines, which it probes before code generation). Other
 * requirements (a kprobe target, a tracepoint) do not stop --emit-elf.
 */
function cannotCompile(requires: readonly Requirement[], c: Capabilities): string | undefined {
  const v = c.bpftrace.version;
  for (const r of requires) {
    if ('bpftrace' in r) {
      const [major, minor] = r.bpftrace.split('.').map(Number);
      if (!versionAtLeast(v, major, minor)) return `bpftrace ${v.text}: ${r.why ?? `older than ${r.bpftrace}`}`;
    }
    if ('bpftraceFeature' in r && r.bpftraceFeature === 'fentry' && !c.bpftrace.fentrySupported) {
      return 'bpftrace refuses fentry at compile time on a kernel without BPF trampolines (it probes the kernel before code generation); covered by unit tests of the generated text only';
    }
  }
  return undefined;
}

export async function compileCheck(c: Capabilities, minReason: number, run = runBpftrace): Promise<CompileResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-elf-'));
  const out: CompileResult[] = [];
  try {
    for (const { name, signal, requires } of allVariants()) {
      for (const mode of ['stream', 'aggregate'] as const) {
        const why = cannotCompile(requires, c);
        if (why) {
          out.push({ variant: name, mode, status: 'unchecked', detail: why });
          continue;
        }
        const program = buildProgram({
          signals: [signal], version: c.bpftrace.version, dropPredicate: '1', tcpSockPredicate: '1', minReason, features: c.features,
          stream: mode === 'stream' ? { ratePerSec: 1000 } : null,
          aggregate: mode === 'aggregate' ? { intervalNs: 10_000_000_000n, phaseNs: 0n, maxFlows: 1024 } : null,
        });
        const elf = join(dir, `${name.replace('/', '-')}-${mode}.elf`);
        const r = await run(c.bpftrace.command, ['--emit-elf', elf, '-e', program.text], 120_000);
        let size = 0;
        try {
          size = statSync(elf).size;
        } catch { /* not written */ }
        const ok = r.code === 0 && size > 0;
        const err = r.stderr.split('\n').filter((l) => /ERROR|error/.test(l)).slice(0, 3).join(' | ');
        out.push({ variant: name, mode, status: ok ? 'ok' : 'failed', detail: ok ? `${size} bytes of BPF ELF` : err || `exit ${r.code}` });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
