// How many probe firings the kernel skipped. A BPF program on a perf-based
// tracepoint or kprobe does not run while another such program is running on
// the same CPU (bpf_prog_active, e.g. a softirq drop arriving while our
// tcp_probe program runs in process context for backlog processing). The
// kernel counts each skip per program as `recursion_misses` in the program
// fd's fdinfo (Linux 5.12+), which we read from the bpftrace process.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Sum of recursion_misses over every BPF program fd of `pid`; undefined if unreadable. */
export function recursionMisses(pid: number, procRoot = '/proc'): number | undefined {
  const dir = join(procRoot, String(pid), 'fdinfo');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return undefined;
  }
  let total = 0;
  let progs = 0;
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(join(dir, fd), 'utf8');
    } catch {
      continue;
    }
    if (!text.includes('prog_id:')) continue;
    progs++;
    const m = /^recursion_misses:\s+(\d+)$/m.exec(text);
    if (m) total += Number(m[1]);
  }
  return progs > 0 ? total : undefined;
}
