// One writer per directory: a real flock(2) advisory lock on `<dir>/.droptrace.lock`.
//
//   const lock = await acquireLock(dir, { purpose: 'run', waitMs: 0 });   // LockHeldError names the holder pid
//   …
//   lock.release();                                                        // or just exit: the kernel drops it
//
// Node has no flock binding. We open the lock file ourselves and hand that
// descriptor to util-linux `flock -n|-w SECS 3` as its fd 3: flock(2) locks
// the open file description, which our fd keeps alive after the helper
// exits, so the lock is ours until we close the fd or the process dies (any
// death, SIGKILL included; the fd is close-on-exec, so no child of ours, e.g.
// bpftrace, can keep it). Interoperates with `flock(1)` in shell scripts.
// The holder writes its pid into the file; /proc/locks would name the
// short-lived helper instead.
import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DroptraceError, EnvironmentError } from '../errors.js';

export const LOCK_FILE = '.droptrace.lock';
const CONFLICT = 75; // flock -E: exit code on "held by someone else" (EX_TEMPFAIL)
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface LockOptions {
  /** Wait this long for the holder to release it (0 or absent: fail at once). */
  waitMs?: number;
  /** What the holder does, shown to whoever finds the lock taken (e.g. "run", "pcap"). */
  purpose?: string;
  /** util-linux flock binary (tests). */
  flockBin?: string;
}

export interface Lock {
  readonly path: string;
  /** Unlock (idempotent). Exiting does it too. */
  release(): void;
}

/** The directory is locked by another process (or another lock in this one). */
export class LockHeldError extends DroptraceError {
  constructor(readonly path: string, readonly holderPid: number | undefined, readonly holderPurpose: string | undefined, waitedMs: number) {
    const who = holderPid ? `droptrace pid ${holderPid}${holderPurpose ? ` (${holderPurpose})` : ''}` : 'another process';
    super(`${dirOf(path)} is in use by ${who}${waitedMs > 0 ? ` (waited ${waitedMs / 1000} s)` : ''}: one writer per directory`, {
      exitCode: 6,
      hint: holderPid
        ? `Stop that instance (kill -TERM ${holderPid}) or give this one another directory.`
        : 'Another process holds the lock file; give this one another directory.',
    });
  }
}

const dirOf = (p: string) => p.slice(0, Math.max(1, p.lastIndexOf('/')));

export async function acquireLock(dir: string, opts: LockOptions = {}): Promise<Lock> {
  const path = join(dir, LOCK_FILE);
  const waitMs = Math.max(0, opts.waitMs ?? 0);
  const fd = openLockFile(path);
  let code: number;
  try {
    code = await runFlock(opts.flockBin ?? 'flock', fd, waitMs);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (code === CONFLICT) {
    const holder = await readHolder(fd);
    closeSync(fd);
    throw new LockHeldError(path, holder.pid, holder.purpose, waitMs);
  }
  // Ours: say who we are (the content is informational only; the lock is the flock).
  const purpose = (opts.purpose ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n${purpose}\n`, 0);
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      try {
        ftruncateSync(fd, 0);
      } catch {
        // Informational content only; closing is what unlocks.
      }
      closeSync(fd);
    },
  };
}

/** Open (or create, 0600) the lock file without following a planted symlink; refuse anything odd. */
function openLockFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if (c === 'ELOOP') throw new EnvironmentError(`lock file ${path} is a symbolic link; refusing to follow it`, 'Remove it; droptrace creates its lock file itself.');
    throw new EnvironmentError(`cannot open lock file ${path}: ${c ?? (e as Error).message}`);
  }
  const st = fstatSync(fd);
  const me = process.geteuid?.();
  const why = !st.isFile() ? 'is not a regular file' : me !== undefined && st.uid !== me ? `is owned by uid ${st.uid}, not by this process (uid ${me})` : st.nlink !== 1 ? `has ${st.nlink} hard links` : null;
  if (why) {
    closeSync(fd);
    throw new EnvironmentError(`lock file ${path} ${why}; refusing to use it`, 'Remove it; droptrace creates its lock file itself.');
  }
  return fd;
}

/** 0: locked (by our fd); CONFLICT: held elsewhere. */
function runFlock(bin: string, fd: number, waitMs: number): Promise<number> {
  const args = waitMs > 0 ? ['-w', (waitMs / 1000).toFixed(3)] : ['-n'];
  return new Promise((resolve, reject) => {
    // stdio[3] = our lock fd: the helper locks our open file description.
    const child = spawn(bin, [...args, '-E', String(CONFLICT), '-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], env: { PATH: SYSTEM_PATH } });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-500)));
    child.on('error', (e) => reject(new EnvironmentError(`cannot run ${bin} to take the directory lock: ${(e as NodeJS.ErrnoException).code ?? e.message}`, 'Install util-linux (it provides flock).')));
    child.on('close', (code, signal) => {
      if (code === 0 || code === CONFLICT) resolve(code);
      else reject(new EnvironmentError(`${bin} failed to take the directory lock (${signal ?? `exit ${code}`}): ${err.trim()}`));
    });
  });
}

/** The holder writes its pid right after locking: retry briefly if we caught it in between. */
async function readHolder(fd: number): Promise<{ pid?: number; purpose?: string }> {
  for (let i = 0; i < 10; i++) {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const [pidText, purpose] = buf.subarray(0, n).toString('latin1').split('\n');
    const pid = Number(pidText);
    if (Number.isSafeInteger(pid) && pid > 0) return { pid, purpose: purpose || undefined };
    await new Promise((r) => setTimeout(r, 20));
  }
  return {};
}
