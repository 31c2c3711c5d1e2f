// The last-resort handler: an uncaught exception or unhandled rejection runs
// the command's shutdown (here: a marker written after an async step, as
// flushing sinks and stopping bpftrace are) before exiting 70. The live
// orphan tests check the same with a real run and bpftrace.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MOD = resolve(import.meta.dirname, '..', '..', 'dist', 'platform', 'last-resort.js');
const CHILD = `
const [mod, marker, mode] = process.argv.slice(1);
import(mod).then((m) => {
  m.installLastResort({
    log: (s) => process.stderr.write('LOG ' + s.split('\\n')[0] + '\\n'),
    timeoutMs: 1500,
    shutdown: () => mode === 'hang' ? new Promise(() => {}) : new Promise((r) => setTimeout(() => {
      if (mode === 'again') setTimeout(() => { throw new Error('second failure'); }, 0);
      require('node:fs').writeFileSync(marker, 'flushed');
      setTimeout(r, 50);
    }, 100)),
  });
  setInterval(() => {}, 1000); // a long-running command
  if (mode === 'reject') Promise.reject(new Error('rejected promise'));
  else setTimeout(() => { throw new TypeError('boom in a timer'); }, 20);
});`;

function run(mode: string): Promise<{ code: number | null; stderr: string; marker: string | null; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-lr-'));
  const marker = join(dir, 'marker');
  const t0 = Date.now();
  return new Promise((res) => {
    const c = spawn(process.execPath, ['-e', CHILD, MOD, marker, mode], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (code) => {
      const m = existsSync(marker) ? readFileSync(marker, 'utf8') : null;
      rmSync(dir, { recursive: true, force: true });
      res({ code, stderr, marker: m, ms: Date.now() - t0 });
    });
  });
}

describe('installLastResort', () => {
  it('an uncaught exception: logged as a bug, shutdown completes, exit 70', async () => {
    const r = await run('throw');
    expect(r.code).toBe(70);
    expect(r.marker).toBe('flushed');
    expect(r.stderr).toContain('LOG internal error (this is a bug, please report it): TypeError: boom in a timer');
    expect(r.stderr).toContain('LOG emergency shutdown: stopping bpftrace, flushing and closing every sink');
  });

  it('an unhandled rejection is handled the same way', async () => {
    const r = await run('reject');
    expect(r.code).toBe(70);
    expect(r.marker).toBe('flushed');
    expect(r.stderr).toContain('Error: rejected promise');
  });

  it('an error during the shutdown is logged and does not start a second one', async () => {
    const r = await run('again');
    expect(r.code).toBe(70);
    expect(r.marker).toBe('flushed');
    expect(r.stderr).toContain('LOG another internal error during the emergency shutdown: Error: second failure');
    expect(r.stderr.match(/LOG emergency shutdown: stopping/g)).toHaveLength(1);
  });

  it('a shutdown that hangs is cut off after its timeout, still exit 70', async () => {
    const r = await run('hang');
    expect(r.code).toBe(70);
    expect(r.marker).toBeNull();
    expect(r.stderr).toContain('LOG emergency shutdown did not finish within 1.5 s; exiting anyway');
    expect(r.ms).toBeGreaterThanOrEqual(1400);
  });
});
