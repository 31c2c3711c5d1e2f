// The parent-death wrapper: the wrapped child is SIGKILLed by the kernel when
// its parent dies (SIGKILL included), and never starts if the parent is
// already gone. (The live orphan tests do the same with bpftrace and count
// its BPF programs with bpftool.)
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dieWithParent, findDeathWrapper, PARENT_GONE_STATUS } from '../../src/platform/die-with-parent.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0): look at its state.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

async function until(cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

const MOD = resolve(import.meta.dirname, '..', '..', 'dist', 'platform', 'die-with-parent.js');
// A parent process that starts `sleep 300` through the wrapper and prints its pid.
const PARENT = `
import(process.argv[1]).then((m) => {
  const w = m.findDeathWrapper();
  const r = m.dieWithParent('/bin/sleep', ['300'], w);
  const c = require('node:child_process').spawn(r.file, r.args, { stdio: 'ignore' });
  console.log(JSON.stringify({ wrapper: w, child: c.pid }));
  setInterval(() => {}, 1000);
});`;

describe('dieWithParent', () => {
  it('finds util-linux setpriv with --pdeathsig on this host', () => {
    const w = findDeathWrapper();
    expect(w).toMatch(/\/setpriv$/);
    expect(findDeathWrapper('/nonexistent-dir')).toBeNull();
  });

  it('leaves argv alone without a wrapper, and passes arguments as separate words through it', () => {
    expect(dieWithParent('/usr/bin/bpftrace', ['-e', 'x'], null)).toEqual({ file: '/usr/bin/bpftrace', args: ['-e', 'x'] });
    const hostile = ['-e', '"; touch /tmp/pwned; echo $(id) `id`', 'a b', '$0 "$@"'];
    const r = dieWithParent('/usr/bin/printf', ['[%s]\n', ...hostile], findDeathWrapper());
    const out = spawnSync(r.file, r.args, { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(hostile.map((a) => `[${a}]\n`).join(''));
  });

  it('does not start the command if the parent is already gone (guard against dying before the prctl)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'droptrace-pdeath-'));
    try {
      const marker = join(dir, 'ran');
      // Pretend our parent was pid 1: the guard sees a different $PPID.
      const r = dieWithParent('/usr/bin/touch', [marker], findDeathWrapper(), 1);
      const out = spawnSync(r.file, r.args);
      expect(out.status).toBe(PARENT_GONE_STATUS);
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the child dies within a second of its parent being SIGKILLed', async () => {
    const parent = spawn(process.execPath, ['-e', PARENT, MOD], { stdio: ['ignore', 'pipe', 'inherit'] });
    const info = await new Promise<{ wrapper: string; child: number }>((res) => parent.stdout!.once('data', (d) => res(JSON.parse(String(d)))));
    expect(info.wrapper).toMatch(/setpriv$/);
    // The wrapped pid is sleep itself (setpriv and sh exec'd).
    await until(() => readFileSync(`/proc/${info.child}/cmdline`, 'utf8') === '/bin/sleep\u0000300\u0000', 5000);
    expect(alive(info.child)).toBe(true);
    const gone = new Promise((r) => parent.once('close', r));
    parent.kill('SIGKILL');
    await gone;
    const took = await until(() => !alive(info.child), 1000);
    expect(took).toBeLessThan(1000);
  });
});
