// BPF programs of ONE process, counted by the kernel's own tools (other
// engineers and tests run bpftrace on this host at the same time: never count
// host-wide): the program ids behind its bpf-prog fds (/proc/PID/fdinfo), the
// attachments bpftool lists for its pid (`bpftool perf show`: tracepoints,
// raw tracepoints, kprobes), and whether bpftool still has those ids loaded.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** Program ids held open by `pid` (empty once it is gone). */
export function progIdsOf(pid: number): number[] {
  const ids: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return ids;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      const m = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // fd closed meanwhile
    }
  }
  return ids.sort((a, b) => a - b);
}

/** Attachments bpftool reports for `pid` (one per attached tracepoint/raw tracepoint/kprobe). */
export function attachedBy(pid: number): Array<{ prog_id: number; type: string; tracepoint?: string }> {
  const all = JSON.parse(execFileSync('bpftool', ['perf', 'show', '-j'], { encoding: 'utf8', env: PATH_ENV })) as Array<{ pid: number; prog_id: number; fd_type?: string; tracepoint?: string }>;
  return all.filter((x) => x.pid === pid).map((x) => ({ prog_id: x.prog_id, type: x.fd_type ?? '', tracepoint: x.tracepoint }));
}

/** Which of `ids` bpftool still lists as loaded programs. */
export function stillLoaded(ids: number[]): number[] {
  const loaded = new Set((JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', env: PATH_ENV })) as Array<{ id: number }>).map((p) => p.id));
  return ids.filter((id) => loaded.has(id));
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
