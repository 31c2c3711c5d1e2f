// The npx launcher going away (issue 10, row 3): when npm started us, a vanished
// parent or grandparent stops us; started any other way, nothing is watched.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchedByNpm, readProc, watchParent } from '../../src/platform/parent-watch.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-proc-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fake /proc: pid → [comm, ppid, starttime]. */
function proc(table: Record<number, [string, number, number]>): { root: string; set: (pid: number, v: [string, number, number] | null) => void } {
  const dir = join(root, `p${++n}`);
  const set = (pid: number, v: [string, number, number] | null) => {
    const d = join(dir, String(pid));
    rmSync(d, { recursive: true, force: true });
    if (!v) return;
    mkdirSync(d, { recursive: true });
    const [comm, ppid, start] = v;
    // Fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime
    writeFileSync(join(d, 'stat'), `${pid} (${comm}) S ${ppid} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 0 0\n`);
  };
  for (const [pid, v] of Object.entries(table)) set(Number(pid), v);
  return { root: dir, set };
}

const tick = () => new Promise((r) => setTimeout(r, 60));
const NPM = { npm_command: 'exec', npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js' };

describe('watchParent', () => {
  it('knows npm by its variables', () => {
    expect(launchedByNpm(NPM)).toBe(true);
    expect(launchedByNpm({ npm_lifecycle_event: 'npx' })).toBe(true);
    expect(launchedByNpm({ PATH: '/bin' })).toBe(false);
  });

  it('reads /proc/PID/stat with a command name holding spaces and parentheses', () => {
    const p = proc({ 7: ['a) (b c', 3, 1234] });
    expect(readProc(p.root, 7)).toEqual({ pid: 7, comm: 'a) (b c', ppid: 3, start: '1234' });
    expect(readProc(p.root, 8)).toBeUndefined();
  });

  it('stops us when npm (the grandparent) exits, even while its sh lives on', async () => {
    const p = proc({ 100: ['node', 90, 500], 90: ['sh', 80, 400], 80: ['npm exec', 1, 300] });
    const why: string[] = [];
    const stop = watchParent({ env: NPM, procRoot: p.root, pid: 100, intervalMs: 10, onGone: (w) => why.push(w) });
    await tick();
    expect(why).toEqual([]);
    p.set(80, null);
    await tick();
    expect(why).toEqual(['its launcher npm exec (pid 80) went away']);
    stop();
  });

  it('stops us when we are reparented (npm and its sh both gone)', async () => {
    const p = proc({ 100: ['node', 90, 500], 90: ['sh', 80, 400], 80: ['npm exec', 1, 300] });
    const why: string[] = [];
    const stop = watchParent({ env: NPM, procRoot: p.root, pid: 100, intervalMs: 10, onGone: (w) => why.push(w) });
    p.set(90, null);
    p.set(80, null);
    p.set(100, ['node', 1, 500]);
    await tick();
    expect(why).toHaveLength(1);
    expect(why[0]).toMatch(/its launcher (sh|npm exec) \(pid (90|80)\) went away/);
    stop();
  });

  it('a pid reused by another process counts as gone', async () => {
    const p = proc({ 100: ['node', 90, 500], 90: ['sh', 80, 400], 80: ['npm exec', 1, 300] });
    const why: string[] = [];
    const stop = watchParent({ env: NPM, procRoot: p.root, pid: 100, intervalMs: 10, onGone: (w) => why.push(w) });
    p.set(80, ['bash', 1, 999]);
    await tick();
    expect(why).toEqual(['its launcher npm exec (pid 80) went away']);
    stop();
  });

  it('started without npm (systemd, node bin/droptrace.js), nothing is watched', async () => {
    const p = proc({ 100: ['node', 90, 500], 90: ['sh', 80, 400] });
    const why: string[] = [];
    const stop = watchParent({ env: {}, procRoot: p.root, pid: 100, intervalMs: 10, onGone: (w) => why.push(w) });
    p.set(90, null);
    p.set(100, ['node', 1, 500]);
    await tick();
    expect(why).toEqual([]);
    stop();
  });
});
