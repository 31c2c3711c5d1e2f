// What the kernel says about a bpftrace process's BPF objects, from
// /proc/PID/fdinfo (Linux 5.12+ for recursion_misses):
//  - per program: how many firings the kernel skipped. A program on a
//    perf-based tracepoint or kprobe does not run while another such program
//    runs on the same CPU (bpf_prog_active, e.g. a softirq drop arriving while
//    our tcp_probe program runs in process context for backlog processing); a
//    raw tracepoint or fentry program is skipped only when it would nest in
//    itself on one CPU (a softirq drop interrupting the drop program while it
//    handles a process-context drop). Each skip is counted as recursion_misses.
//  - per map: its size (max_entries) and the memory the kernel charges (memlock).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';

export interface BpfProg {
  id: number;
  /** bpf_prog_type: 2 kprobe, 5 tracepoint, 7 perf_event, 17 raw_tracepoint, 26 tracing (fentry). */
  type: number;
  recursionMisses: number;
}

export interface BpfMap {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  memlock: number;
}

export interface BpfObjects {
  progs: BpfProg[];
  maps: BpfMap[];
}

const field = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

/** The BPF programs and maps `pid` holds, by id (ascending: load order); undefined if unreadable. */
export function readBpfObjects(pid: number, procRoot = '/proc'): BpfObjects | undefined {
  const dir = join(procRoot, String(pid), 'fdinfo');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return undefined;
  }
  const progs = new Map<number, BpfProg>();
  const maps = new Map<number, BpfMap>();
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(join(dir, fd), 'utf8');
    } catch {
      continue;
    }
    const progId = field(text, 'prog_id');
    if (progId !== undefined) {
      progs.set(progId, { id: progId, type: field(text, 'prog_type') ?? 0, recursionMisses: field(text, 'recursion_misses') ?? 0 });
      continue;
    }
    const mapId = field(text, 'map_id');
    if (mapId !== undefined) {
      maps.set(mapId, {
        id: mapId, type: field(text, 'map_type') ?? 0, keySize: field(text, 'key_size') ?? 0, valueSize: field(text, 'value_size') ?? 0,
        maxEntries: field(text, 'max_entries') ?? 0, memlock: field(text, 'memlock') ?? 0,
      });
    }
  }
  const byId = <T extends { id: number }>(m: Map<number, T>) => [...m.values()].sort((a, b) => a.id - b.id);
  return { progs: byId(progs), maps: byId(maps) };
}

/** Sum of recursion_misses over every BPF program fd of `pid`; undefined if it holds none. */
export function recursionMisses(pid: number, procRoot = '/proc'): number | undefined {
  const o = readBpfObjects(pid, procRoot);
  if (!o || o.progs.length === 0) return undefined;
  return o.progs.reduce((s, p) => s + p.recursionMisses, 0);
}

/**
 * Which traced kernel event each program is attached to, by program name.
 * bpftrace 0.17 names a program after its event, cut to 15 characters
 * (BPF_OBJ_NAME_LEN), so tcp_retransmit_skb and tcp_retransmit_synack both
 * read "tcp_retransmit_"; 0.2x names it "rawtracepoint_kfree_skb_2". Programs
 * load in program order and ids grow, so a greedy match in id order against
 * the events in program order resolves the cut names.
 * Returns program id → index into `events`.
 */
export function attributePrograms(progs: Array<{ id: number; name: string }>, events: string[]): Map<number, number> {
  const out = new Map<number, number>();
  let from = 0;
  for (const p of [...progs].sort((a, b) => a.id - b.id)) {
    for (let i = from; i < events.length; i++) {
      const ev = events[i];
      const cut = p.name.length >= 15 && ev.startsWith(p.name);
      if (p.name === ev || cut || new RegExp(`(^|_)${ev}(_\\d+)?$`).test(p.name)) {
        out.set(p.id, i);
        from = i + 1;
        break;
      }
    }
  }
  return out;
}

/** Program names by id from `bpftool prog show --json` (Debian package bpftool); empty if it is missing. */
export function bpftoolProgNames(bpftool = 'bpftool'): Promise<Map<number, string>> {
  return new Promise((resolve) => {
    execFile(bpftool, ['prog', 'show', '--json'], { timeout: 10_000, maxBuffer: 64 << 20, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout) => {
      if (err) return resolve(new Map());
      try {
        const list = JSON.parse(String(stdout)) as Array<{ id?: unknown; name?: unknown }>;
        resolve(new Map(list.filter((p) => typeof p.id === 'number' && typeof p.name === 'string').map((p) => [p.id as number, p.name as string])));
      } catch {
        resolve(new Map());
      }
    });
  });
}
