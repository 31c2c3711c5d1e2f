// An exclusive lock on a directory, for runs that must not overlap (tcpdump
// -z starts one `droptrace pcap` per rotated file without waiting for the
// previous one). A real flock(2) on <dir>/.droptrace.lock: the kernel drops
// it when the process exits, however it exits, so a crash never leaves a
// stale lock. Node has no flock(); util-linux flock(1) takes the lock on a
// descriptor we pass it, and since the lock belongs to the open file
// description we share, it stays ours after flock(1) exits, until release()
// closes our descriptor.
import { spawn } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DroptraceError } from '../errors.js';

export class LockTimeoutError extends DroptraceError {
  constructor(path: string, waitMs: number) {
    super(`${path} is still locked by another droptrace run after waiting ${waitMs / 1000} s`, { exitCode: 7, hint: 'Another run is still analysing or shipping; raise the wait (pcap-lock-wait) if runs take longer.' });
  }
}

export interface Lock {
  release(): void;
  path: string;
}

export interface LockOptions {
  /** How long to wait for the holder (default 0: fail at once). */
  waitMs?: number;
  /** Written into the lock file for whoever wonders who holds it. */
  purpose?: string;
  /** flock(1) binary (tests). */
  flockBinary?: string;
}

export async function acquireLock(dir: string, opts: LockOptions = {}): Promise<Lock> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, '.droptrace.lock');
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw new DroptraceError(`cannot open lock file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const waitMs = Math.max(0, opts.waitMs ?? 0);
  const args = waitMs > 0 ? ['--exclusive', '--wait', String(waitMs / 1000), '3'] : ['--exclusive', '--nonblock', '3'];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(opts.flockBinary ?? 'flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd], env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin' } });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new DroptraceError(`cannot run flock(1) to lock ${path}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { hint: 'Install util-linux.' })));
    child.on('close', (c) => (c === 0 || c === 1 ? resolve(c) : reject(new DroptraceError(`flock(1) failed on ${path} (exit ${c}): ${err.trim()}`))));
  }).catch((e) => {
    closeSync(fd);
    throw e;
  });
  if (code !== 0) {
    closeSync(fd);
    throw new LockTimeoutError(path, waitMs);
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid} ${opts.purpose ?? 'droptrace'}\n`, 0);
  } catch {
    // Only informational.
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
