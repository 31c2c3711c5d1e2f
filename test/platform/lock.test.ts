// The directory lock is a real flock(2): a second holder waits or fails, a
// release hands it on, and a holder that dies (SIGKILL) loses it at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acquireLock, LockTimeoutError } from '../../src/platform/lock.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'droptrace-lock-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('acquireLock', () => {
  it('excludes a second holder until released; waiting works', async () => {
    const a = await acquireLock(dir, { purpose: 'test a' });
    expect(readFileSync(a.path, 'utf8')).toBe(`${process.pid} test a\n`);
    await expect(acquireLock(dir)).rejects.toBeInstanceOf(LockTimeoutError);
    const t0 = Date.now();
    setTimeout(() => a.release(), 300);
    const b = await acquireLock(dir, { waitMs: 10_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    b.release();
  });

  it('a holder killed with SIGKILL leaves no stale lock', async () => {
    const lockModule = resolve(import.meta.dirname, '../../dist/platform/lock.js');
    const child = spawn(process.execPath, ['--input-type=module', '-e', `const { acquireLock } = await import(${JSON.stringify(lockModule)}); await acquireLock(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout!.on('data', (d) => String(d).includes('locked') && r()));
    await expect(acquireLock(dir)).rejects.toBeInstanceOf(LockTimeoutError);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const c = await acquireLock(dir);
    c.release();
  });
});
