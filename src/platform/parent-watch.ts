// `npx droptrace run` is npm → sh -c → node (us). On SIGTERM npm 10 exits
// and its sh dies with it, but neither passes the signal on: we are
// reparented and would run for ever, bpftrace attached. So when npm started
// us (it sets npm_* variables), we watch our parent and grandparent (the
// sh and npm) and stop cleanly, as on SIGTERM, once either is gone.
// Started any other way (systemd, a container, `node bin/droptrace.js`) we do
// not watch: a daemonizing launcher that exits on purpose must not stop us.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ParentWatchOptions {
  onGone: (why: string) => void;
  env?: NodeJS.ProcessEnv;
  intervalMs?: number;
  procRoot?: string;
  /** Our pid (default process.pid). */
  pid?: number;
}

export function launchedByNpm(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.npm_execpath || env.npm_command || env.npm_lifecycle_event);
}

interface Proc {
  pid: number;
  /** Start time in clock ticks since boot: a reused pid has another one. */
  start: string;
  comm: string;
  ppid: number;
}

/** /proc/PID/stat: "pid (comm) state ppid … starttime(22nd field) …"; comm may hold spaces and parens. */
export function readProc(procRoot: string, pid: number): Proc | undefined {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), 'stat'), 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, starttime field 22.
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return { pid, comm, ppid: Number(f[1]), start: f[19] };
}

/** Starts watching when launched by npm; returns a stop function (a no-op otherwise). */
export function watchParent(o: ParentWatchOptions): () => void {
  const env = o.env ?? process.env;
  if (!launchedByNpm(env)) return () => undefined;
  const procRoot = o.procRoot ?? '/proc';
  const me = readProc(procRoot, o.pid ?? process.pid);
  if (!me) return () => undefined;
  const chain: Proc[] = [];
  for (let pid = me.ppid; chain.length < 2 && pid > 1; ) {
    const p = readProc(procRoot, pid);
    if (!p) break;
    chain.push(p);
    pid = p.ppid;
  }
  const timer = setInterval(() => {
    const now = readProc(procRoot, me.pid);
    const gone = chain.find((p) => readProc(procRoot, p.pid)?.start !== p.start) ?? (now && now.ppid !== me.ppid ? chain[0] : undefined);
    if (!gone) return;
    clearInterval(timer);
    o.onGone(`its launcher ${gone.comm} (pid ${gone.pid}) went away`);
  }, o.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
