// bpftrace must never outlive the collector, however the collector dies
// (SIGKILL, OOM kill, crash): its programs stay attached until its fds close.
// The kernel's parent-death signal does this for us: util-linux
// `setpriv --pdeathsig KILL` sets PR_SET_PDEATHSIG in the child and execs,
// and the setting survives the exec of bpftrace (or of the private
// install's ld.so). A tiny /bin/sh guard closes the window in which we could
// die before the prctl: it execs bpftrace only if its parent is still us
// ($PPID is read after the prctl), else exits 125. Without setpriv (util-linux
// < 2.33) bpftrace is spawned directly and only dies at its next write to the
// closed pipe; the caller warns once.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Exit status of the guard when the parent was already gone. */
export const PARENT_GONE_STATUS = 125;
const GUARD = `[ "$PPID" = "$0" ] && exec "$@"; exit ${PARENT_GONE_STATUS}`;

export interface Spawnable {
  file: string;
  args: string[];
}

const cache = new Map<string, string | null>();

/** The setpriv binary if it supports --pdeathsig (checked once per search path), else null. */
export function findDeathWrapper(searchPath = SYSTEM_PATH, shell = '/bin/sh'): string | null {
  const key = `${searchPath}\0${shell}`;
  if (cache.has(key)) return cache.get(key)!;
  let found: string | null = null;
  for (const dir of searchPath.split(':')) {
    const p = join(dir, 'setpriv');
    try {
      accessSync(p, constants.X_OK);
    } catch {
      continue;
    }
    const r = spawnSync(p, ['--pdeathsig', 'KILL', '--', shell, '-c', 'exit 0'], { env: { PATH: SYSTEM_PATH }, stdio: 'ignore', timeout: 5000 });
    if (r.status === 0) found = p;
    break;
  }
  cache.set(key, found);
  return found;
}

/** argv that runs `file args…` so it is SIGKILLed when `parentPid` (us) dies; unchanged without a wrapper. */
export function dieWithParent(file: string, args: string[], wrapper: string | null, parentPid = process.pid, shell = '/bin/sh'): Spawnable {
  if (!wrapper) return { file, args };
  return { file: wrapper, args: ['--pdeathsig', 'KILL', '--', shell, '-c', GUARD, String(parentPid), file, ...args] };
}
