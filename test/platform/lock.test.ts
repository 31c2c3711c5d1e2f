// The one-writer lock is a real flock(2): checked against util-linux flock(1)
// and against other processes (including one that dies by SIGKILL).
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireLock, LockHeldError, LOCK_FILE } from '../../src/platform/lock.js';
import { EnvironmentError } from '../../src/errors.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'droptrace-lock-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** util-linux flock(1) on the same file: 0 if it could take the lock at once, 1 if not. */
const flockCli = (path: string) => spawnSync('flock', ['-n', '-E', '1', path, 'true']).status;

// A separate process holding the lock through the same module (the built copy
// the CLI uses): prints "held", releases on a line on stdin.
const LOCK_JS = resolve(import.meta.dirname, '..', '..', 'dist', 'platform', 'lock.js');
const HOLDER = `
import(process.argv[1]).then(async (m) => {
  const lock = await m.acquireLock(process.argv[2], { purpose: 'holder-test' });
  process.stdout.write('held\\n');
  process.stdin.once('data', () => { lock.release(); process.stdout.write('released\\n'); setTimeout(() => process.exit(0), 60_000); });
});`;

function holder(dir: string): Promise<{ child: ChildProcess; lines: string[]; next: (what: string) => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', HOLDER, LOCK_JS, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    lines.push(...d.split('\n').filter(Boolean));
    for (const w of waiters.splice(0)) w();
  });
  const next = (what: string) =>
    new Promise<void>((res, rej) => {
      const check = () => (lines.includes(what) ? res() : child.exitCode !== null ? rej(new Error(`holder exited before ${what}`)) : waiters.push(check));
      check();
    });
  return next('held').then(() => ({ child, lines, next }));
}

describe('acquireLock', () => {
  it('takes a real flock: flock(1) sees it held until release, and the file names our pid', async () => {
    const dir = tempDir();
    const lock = await acquireLock(dir, { purpose: 'run' });
    expect(lock.path).toBe(join(dir, LOCK_FILE));
    expect(statSync(lock.path).mode & 0o777).toBe(0o600);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\nrun\n`);
    expect(flockCli(lock.path)).toBe(1);
    lock.release();
    lock.release(); // idempotent
    expect(flockCli(lock.path)).toBe(0);
  });

  it('refuses a second holder in the same process, naming the holder pid and purpose', async () => {
    const dir = tempDir();
    const first = await acquireLock(dir, { purpose: 'run' });
    const err = await acquireLock(dir).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.holderPid).toBe(process.pid);
    expect(err.message).toContain(`droptrace pid ${process.pid} (run)`);
    expect(err.message).toContain(dir);
    expect(err.hint).toContain(`kill -TERM ${process.pid}`);
    first.release();
    const again = await acquireLock(dir);
    again.release();
  });

  it('names another process holding it, and is free once that process is SIGKILLed', async () => {
    const dir = tempDir();
    const h = await holder(dir);
    const err = await acquireLock(dir).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.holderPid).toBe(h.child.pid);
    expect(err.message).toContain('(holder-test)');
    const exited = new Promise((r) => h.child.once('close', r));
    h.child.kill('SIGKILL');
    await exited;
    const lock = await acquireLock(dir);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\n\n`);
    lock.release();
  });

  it('waits for the holder with waitMs and gets the lock once it is released', async () => {
    const dir = tempDir();
    const h = await holder(dir);
    const t0 = Date.now();
    const pending = acquireLock(dir, { waitMs: 20_000 });
    // Still waiting while held (flock -w is blocking in the helper, not in us).
    await new Promise((r) => setTimeout(r, 300));
    expect(flockCli(join(dir, LOCK_FILE))).toBe(1);
    h.child.stdin!.write('release\n');
    await h.next('released');
    const lock = await pending;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${process.pid}\n\n`);
    lock.release();
    h.child.kill('SIGKILL');
  });

  it('gives up after waitMs when the holder keeps it', async () => {
    const dir = tempDir();
    const h = await holder(dir);
    const t0 = Date.now();
    const err = await acquireLock(dir, { waitMs: 400 }).catch((e) => e);
    const waited = Date.now() - t0;
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.holderPid).toBe(h.child.pid);
    expect(err.message).toContain('waited 0.4 s');
    expect(waited).toBeGreaterThanOrEqual(390);
    expect(waited).toBeLessThan(10_000);
    h.child.kill('SIGKILL');
  });

  it('interoperates with a shell script holding flock(1): "another process", no pid invented', async () => {
    const dir = tempDir();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, '', { mode: 0o600 });
    const sh = spawn('flock', ['-x', path, 'sh', '-c', 'echo held; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((r) => sh.stdout!.once('data', () => r()));
    const err = await acquireLock(dir).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.holderPid).toBeUndefined();
    expect(err.message).toContain('in use by another process');
    sh.stdin!.end('\n');
    await new Promise((r) => sh.once('close', r));
    (await acquireLock(dir)).release();
  });

  it('refuses a planted symlink or FIFO as the lock file, without hanging', async () => {
    const dir = tempDir();
    const target = join(dir, 'target');
    writeFileSync(target, 'keep me');
    symlinkSync(target, join(dir, LOCK_FILE));
    await expect(acquireLock(dir)).rejects.toThrow(/symbolic link; refusing/);
    expect(readFileSync(target, 'utf8')).toBe('keep me');

    const dir2 = tempDir();
    expect(spawnSync('mkfifo', [join(dir2, LOCK_FILE)]).status).toBe(0);
    const err = await acquireLock(dir2).catch((e) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toMatch(/not a regular file/);
  });

  it('says what is missing when flock(1) cannot run', async () => {
    const dir = tempDir();
    const err = await acquireLock(dir, { flockBin: join(dir, 'no-such-flock') }).catch((e) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toContain('ENOENT');
    expect(err.hint).toMatch(/util-linux/);
    // Nothing is left held.
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    expect(flockCli(join(dir, LOCK_FILE))).toBe(0);
  });
});
