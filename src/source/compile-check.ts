// Compile every bundled probe variant without attaching (`bpftrace
// --emit-elf`), including the ones this kernel cannot attach (kprobe, fentry),
// in both output modes (per-event stream and in-kernel aggregation). CI runs
// it so a variant that only real hosts use never rots unnoticed.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from './program.js';
import { runBpftrace } from './bpftrace-binary.js';
import type { Capabilities, SignalChoice } from './capabilities.js';

export interface CompileResult {
  variant: string;
  mode: 'stream' | 'aggregate';
  status: 'ok' | 'failed' | 'unchecked';
  detail: string;
}

const sig = (signal: SignalChoice['signal'], variant: SignalChoice['variant'], file: string): SignalChoice => ({ signal, variant, files: [file], detail: '', degraded: false });

/** Every variant we ship, one program each. */
export const ALL_VARIANTS: Array<{ name: string; signal: SignalChoice }> = [
  { name: 'drops/tracepoint', signal: sig('drops', 'tracepoint', 'drops/kfree_skb.bt') },
  { name: 'drops/rawtracepoint', signal: sig('drops', 'rawtracepoint', 'drops/kfree_skb.raw.bt') },
  { name: 'retransmits/tracepoint', signal: sig('retransmits', 'tracepoint', 'retransmits/tcp_retransmit_skb.bt') },
  { name: 'retransmits/rawtracepoint', signal: sig('retransmits', 'rawtracepoint', 'retransmits/tcp_retransmit_skb.raw.bt') },
  { name: 'synack-retransmits/tracepoint', signal: sig('synack-retransmits', 'tracepoint', 'retransmits/tcp_retransmit_synack.bt') },
  { name: 'synack-retransmits/rawtracepoint', signal: sig('synack-retransmits', 'rawtracepoint', 'retransmits/tcp_retransmit_synack.raw.bt') },
  { name: 'loss-probes/kprobe', signal: sig('loss-probes', 'kprobe', 'loss-probe/kprobe.bt') },
  { name: 'loss-probes/fentry', signal: sig('loss-probes', 'fentry', 'loss-probe/fentry.bt') },
  { name: 'incoming-loss/tracepoint', signal: sig('incoming-loss', 'tracepoint', 'incoming-loss/tcp_probe.bt') },
  { name: 'incoming-loss/rawtracepoint', signal: sig('incoming-loss', 'rawtracepoint', 'incoming-loss/tcp_probe.raw.bt') },
  { name: 'flow-ends/tracepoint', signal: sig('flow-ends', 'tracepoint', 'flow-ends/inet_sock_set_state.bt') },
  { name: 'flow-ends/rawtracepoint', signal: sig('flow-ends', 'rawtracepoint', 'flow-ends/inet_sock_set_state.raw.bt') },
];

/** Why a variant can't be compiled here at all (bpftrace refuses before emitting code). */
function cannotCompile(name: string, c: Capabilities): string | undefined {
  const v = c.bpftrace.version;
  if (name.endsWith('/rawtracepoint') && (v.major === 0 && v.minor < 21)) return `bpftrace ${v.text} rejects rawtracepoint attach points`;
  if (name === 'loss-probes/fentry' && !c.bpftrace.fentrySupported) {
    return 'bpftrace refuses fentry at compile time on a kernel without BPF trampolines (it probes the kernel before code generation); covered by unit tests of the generated text only';
  }
  return undefined;
}

export async function compileCheck(c: Capabilities, minReason: number, run = runBpftrace): Promise<CompileResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-elf-'));
  const out: CompileResult[] = [];
  try {
    for (const { name, signal } of ALL_VARIANTS) {
      for (const mode of ['stream', 'aggregate'] as const) {
        const why = cannotCompile(name, c);
        if (why) {
          out.push({ variant: name, mode, status: 'unchecked', detail: why });
          continue;
        }
        const program = buildProgram({
          signals: [signal], version: c.bpftrace.version, dropPredicate: '1', tcpSockPredicate: '1', minReason, dropRxSk: c.dropRxSk, retransmitErr: c.retransmitErr,
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
