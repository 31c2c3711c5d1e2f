// Two kernel figures about one tracepoint, independent of droptrace, for a
// live test to hold droptrace's counts against:
//  - the kernel's own tracer: a private tracefs instance with the event
//    enabled records every firing, whatever happens to BPF programs;
//  - BPF run statistics (kernel.bpf_stats_enabled): how often the kernel ran
//    each program of droptrace's bpftrace, and how often it skipped one for
//    recursion (recursion_misses, also without the sysctl).
// Firings recorded by the tracer minus runs and misses of our program are
// firings the kernel ran no BPF program of ours for. Measured on this 6.18
// kernel (2026-12-01): a few tcp_retransmit_skb firings in ~1 of 12 lossy
// transfers, always in softirq context, with a plain one-liner attached
// beside droptrace missing exactly the same ones and recursion_misses 0;
// kfree_skb too (2 nft drops of ~150 once in a CI run).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './netns.js';

const TRACEFS = '/sys/kernel/tracing';
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

let seq = 0;

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised comm (which may hold spaces).
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); }
  };
  walk(root);
  return out;
}

/**
 * Runs and recursion misses of the BPF programs attached to `tracepoint`
 * (its name, e.g. tcp_retransmit_skb) by `root` or its descendants, as
 * `bpftool perf list` pairs them (perf and raw tracepoints alike; program
 * names cannot tell: bpftrace 0.17 truncates them to "tcp_retransmit_").
 */
export function programRuns(root: number, tracepoint: string): { runs: number; misses: number; programs: number } {
  const pids = new Set([root, ...descendants(root)]);
  const attached = JSON.parse(sh('bpftool', ['perf', 'list', '--json'])) as Array<{ pid: number; prog_id: number; tracepoint?: string }>;
  const ids = new Set(attached.filter((a) => pids.has(a.pid) && a.tracepoint === tracepoint).map((a) => a.prog_id));
  const total = { runs: 0, misses: 0, programs: ids.size };
  for (const id of ids) {
    // bpftool leaves out counters that are 0.
    const info = JSON.parse(sh('bpftool', ['prog', 'show', 'id', String(id), '--json'])) as { run_cnt?: number; recursion_misses?: number };
    total.runs += info.run_cnt ?? 0;
    total.misses += info.recursion_misses ?? 0;
  }
  return total;
}

export interface Witness {
  /** Stop recording; the event lines the kernel's tracer recorded. */
  stop(): string[];
  /** Undo everything (idempotent): instance removed, the sysctl as it was. */
  close(): void;
}

/**
 * Start recording `events` ("tcp/tcp_retransmit_skb", "skb/kfree_skb") in a
 * private tracefs instance and turn BPF run statistics on (restored by close()).
 */
export function startWitness(events: string[]): Witness {
  if (!existsSync(join(TRACEFS, 'instances'))) sh('mount', ['-t', 'tracefs', 'nodev', TRACEFS]);
  const dir = join(TRACEFS, 'instances', `dtwitness${process.pid}x${++seq}`);
  const statsBefore = readFileSync(STATS_SYSCTL, 'utf8').trim();
  mkdirSync(dir);
  let closed = false;
  const enables = events.map((e) => join(dir, 'events', e, 'enable'));
  const off = () => {
    for (const f of enables) {
      try { writeFileSync(f, '0'); } catch { /* already gone */ }
    }
  };
  try {
    // Room for every firing of the test's events: an overwritten one would make the tracer's count short.
    writeFileSync(join(dir, 'buffer_size_kb'), '8192');
    writeFileSync(STATS_SYSCTL, '1');
    for (const f of enables) writeFileSync(f, '1');
  } catch (e) {
    off();
    writeFileSync(STATS_SYSCTL, statsBefore);
    rmdirSync(dir);
    throw e;
  }
  return {
    stop() {
      off();
      for (const cpu of readdirSync(join(dir, 'per_cpu'))) {
        const stats = readFileSync(join(dir, 'per_cpu', cpu, 'stats'), 'utf8');
        const overrun = Number(/^overrun:\s*(\d+)/m.exec(stats)?.[1] ?? 0);
        if (overrun !== 0) throw new Error(`the tracer overwrote ${overrun} events on ${cpu}: its count is short`);
      }
      return readFileSync(join(dir, 'trace'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    },
    close() {
      if (closed) return;
      closed = true;
      off();
      writeFileSync(STATS_SYSCTL, statsBefore);
      rmdirSync(dir);
    },
  };
}
