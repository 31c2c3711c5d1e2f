// Unit test of the supervisor's process logic with a fake "bpftrace" shell
// script (live tests cover the real bpftrace). The script's behaviour is chosen
// by FAKE_MODE, passed through the supervisor's `env` option, and it counts its
// runs in FAKE_STATE/runs.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor, type Gap, type SupervisorOptions } from '../../src/source/supervisor.js';
import { SYSTEM_PATH } from '../../src/source/bpftrace-binary.js';
import { TracerError } from '../../src/errors.js';

const FAKE = `#!/bin/sh
n=$(( $(cat "$FAKE_STATE/runs" 2>/dev/null || echo 0) + 1 ))
echo $n > "$FAKE_STATE/runs"
case "$FAKE_MODE" in
  crash-once)
    echo '{"t":"ready"}'
    echo "run$n-line"
    if [ $n -eq 1 ]; then echo "run$n dying" >&2; exit 1; fi
    trap 'echo "run$n-drained"; exit 0' INT
    while :; do sleep 0.02; done ;;
  always-crash)
    echo '{"t":"ready"}'
    echo "run$n"
    exit 7 ;;
  compile-error)
    echo "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace. If your program is not loading, you can try \\"ulimit -l 8192\\" to fix the problem" >&2
    echo 'stdin:3:5-10: ERROR: syntax error, unexpected identifier' >&2
    printf 'last stderr line without a newline' >&2
    exit 1 ;;
  drain)
    trap 'echo drained-1; echo drained-2; printf partial-last; exit 0' INT
    echo '{"t":"ready"}'
    echo first
    while :; do sleep 0.02; done ;;
  ignore-int)
    trap '' INT
    echo '{"t":"ready"}'
    while :; do sleep 0.02; done ;;
  overlong)
    trap 'exit 0' INT
    echo '{"t":"ready"}'
    head -c 2097152 /dev/zero | tr '\\0' x
    echo
    echo after
    while :; do sleep 0.02; done ;;
  argv-env)
    trap 'exit 0' INT
    echo '{"t":"ready"}'
    for a in "$@"; do printf 'ARG:%s\\n' "$a"; done
    env | sed 's/^/ENV:/'
    echo END
    while :; do sleep 0.02; done ;;
esac
`;

let root: string;
let fake: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'droptrace-sup-'));
  fake = join(root, 'bpftrace');
  writeFileSync(fake, FAKE);
  chmodSync(fake, 0o755);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let stateCounter = 0;
interface Harness {
  sup: Supervisor;
  lines: string[];
  stderr: string[];
  ready: Array<[number, number]>;
  gaps: Gap[];
  runs: () => number;
  done: Promise<void>;
}

function harness(mode: string, over: Partial<SupervisorOptions> = {}): Harness {
  const state = join(root, `state-${++stateCounter}`);
  mkdirSync(state);
  const lines: string[] = [];
  const stderr: string[] = [];
  const ready: Array<[number, number]> = [];
  const gaps: Gap[] = [];
  const sup = new Supervisor({
    command: { file: fake, prefixArgs: [], display: 'fake bpftrace' },
    program: 'BEGIN { }',
    env: { FAKE_MODE: mode, FAKE_STATE: state },
    onLine: (l) => lines.push(l),
    onStderr: (l) => stderr.push(l),
    onReady: (pid, restarts) => ready.push([pid, restarts]),
    onGap: (g) => gaps.push(g),
    backoffMs: () => 10,
    stopGraceMs: 2000,
    ...over,
  });
  const done = sup.start();
  done.catch(() => undefined); // observed by each test
  const runs = () => {
    try {
      return Number(readFileSync(join(state, 'runs'), 'utf8'));
    } catch {
      return 0;
    }
  };
  return { sup, lines, stderr, ready, gaps, runs, done };
}

async function waitFor(cond: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Supervisor', () => {
  it('restarts after the child dies, reports the gap, and keeps delivering lines', async () => {
    const h = harness('crash-once');
    await waitFor(() => h.lines.includes('run2-line'));
    expect(h.ready).toHaveLength(2);
    expect(h.ready[0][1]).toBe(0);
    expect(h.ready[1][1]).toBe(1);
    expect(h.ready[0][0]).not.toBe(h.ready[1][0]);
    expect(h.gaps).toHaveLength(1);
    const g = h.gaps[0];
    expect(g.restarts).toBe(1);
    expect(g.cause).toContain('bpftrace exited with code 1');
    expect(g.cause).toContain('run1 dying');
    expect(g.end).toBeGreaterThanOrEqual(g.start);
    expect(h.sup.restartCount).toBe(1);
    // The ready marker itself is never passed on as a line.
    expect(h.lines).not.toContain('{"t":"ready"}');
    await h.sup.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(h.lines).toEqual(['run1-line', 'run2-line', 'run2-drained']);
    expect(h.runs()).toBe(2);
  });

  it('gives up with a TracerError after repeated fast failures', async () => {
    const h = harness('always-crash', { maxFastFailures: 3, healthyAfterMs: 60_000 });
    const err = await h.done.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TracerError);
    expect((err as TracerError).message).toMatch(/keeps failing \(3 times/);
    expect((err as TracerError).message).toContain('exited with code 7');
    expect(h.runs()).toBe(3);
    expect(h.lines).toEqual(['run1', 'run2', 'run3']);
    // Gaps are only reported once a restarted tracer is attached again.
    expect(h.gaps).toHaveLength(2);
    expect(h.gaps.map((g) => g.restarts)).toEqual([1, 2]);
    await h.sup.stop(); // harmless after giving up
  });

  it('does not give up when each run lasted longer than healthyAfterMs', async () => {
    let t = 0;
    const h = harness('always-crash', { maxFastFailures: 2, healthyAfterMs: 500, now: () => (t += 1000) });
    await waitFor(() => h.runs() >= 5);
    await h.sup.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(h.gaps.length).toBeGreaterThanOrEqual(3);
    expect(h.gaps.map((g) => g.restarts).slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('a failure before ready is a TracerError carrying bpftrace’s stderr, without restarts', async () => {
    const h = harness('compile-error');
    const err = await h.done.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TracerError);
    const msg = (err as TracerError).message;
    expect(msg).toContain('failed before attaching its probes');
    expect(msg).toContain('exited with code 1');
    expect(msg).toContain('stdin:3:5-10: ERROR: syntax error, unexpected identifier');
    expect(msg).toContain('last stderr line without a newline');
    // The harmless RLIMIT_MEMLOCK warning of bpftrace 0.17 is filtered.
    expect(msg).not.toContain('RLIMIT_MEMLOCK');
    expect(h.stderr).toEqual(['stdin:3:5-10: ERROR: syntax error, unexpected identifier', 'last stderr line without a newline']);
    expect(h.ready).toEqual([]);
    expect(h.runs()).toBe(1);
  });

  it('a binary that cannot be spawned is a TracerError naming the cause', async () => {
    const sup = new Supervisor({
      command: { file: join(root, 'no-such-bpftrace'), prefixArgs: [], display: 'missing bpftrace' },
      program: 'BEGIN { }', onLine: () => undefined, onReady: () => undefined, onGap: () => undefined,
    });
    const err = await sup.start().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(TracerError);
    expect((err as Error).message).toContain('ENOENT');
  });

  it('stop() sends SIGINT and drains the last lines, including a partial one', async () => {
    const h = harness('drain');
    await waitFor(() => h.lines.includes('first'));
    expect(h.sup.pid).toBeGreaterThan(0);
    await h.sup.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(h.lines).toEqual(['first', 'drained-1', 'drained-2', 'partial-last']);
    expect(h.sup.pid).toBeUndefined();
    expect(h.gaps).toEqual([]);
    expect(h.runs()).toBe(1);
  });

  it('stop() escalates to SIGKILL after the grace period', async () => {
    const h = harness('ignore-int', { stopGraceMs: 200 });
    await waitFor(() => h.ready.length === 1);
    const t0 = Date.now();
    await h.sup.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(h.runs()).toBe(1);
  });

  it('stop() during the restart backoff resolves at once and never respawns', async () => {
    const h = harness('always-crash', { backoffMs: () => 10_000, healthyAfterMs: 60_000 });
    await waitFor(() => h.runs() === 1 && h.lines.includes('run1') && h.sup.pid === undefined);
    const t0 = Date.now();
    await h.sup.stop();
    await expect(h.done).resolves.toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.runs()).toBe(1);
  });
});

describe('Supervisor: over-long lines', () => {
  it('cuts a 2 MiB line, reports its length once, and delivers the next line', async () => {
    const cut: number[] = [];
    const h = harness('overlong', { onOverlong: (n) => cut.push(n) });
    await waitFor(() => h.lines.includes('after'), 10_000);
    await h.sup.stop();
    await h.done;
    expect(cut).toHaveLength(1);
    expect(cut[0]).toBeGreaterThan(1 << 20);
    expect(h.lines).toEqual(['after']);
  });
});

describe('Supervisor argv and environment', () => {
  it('passes prefix args, -e and the program as separate arguments; env is minimal plus extras', async () => {
    process.env.DROPTRACE_TEST_LEAK = 'should-not-reach-bpftrace';
    try {
      const program = 'BEGIN { printf("$(touch /tmp/x) `id`"); } ; echo pwned';
      const h = harness('argv-env', { program, command: { file: fake, prefixArgs: ['--library-path', '/x y', '/real/bpftrace'], display: 'fake' } });
      await waitFor(() => h.lines.includes('END'));
      await h.sup.stop();
      await h.done;
      const args = h.lines.filter((l) => l.startsWith('ARG:')).map((l) => l.slice(4));
      expect(args).toEqual(['--library-path', '/x y', '/real/bpftrace', '-e', program]);
      const env = new Map(h.lines.filter((l) => l.startsWith('ENV:')).map((l) => {
        const kv = l.slice(4);
        const i = kv.indexOf('=');
        return [kv.slice(0, i), kv.slice(i + 1)] as [string, string];
      }));
      expect(env.get('PATH')).toBe(SYSTEM_PATH);
      expect(env.get('LANG')).toBe('C.UTF-8');
      expect(env.get('BPFTRACE_NO_USER_SYMBOLS')).toBe('1');
      expect(env.get('FAKE_MODE')).toBe('argv-env');
      expect(env.has('DROPTRACE_TEST_LEAK')).toBe(false);
      expect(env.has('HOME')).toBe(false);
      // Only what we set, plus what sh itself adds.
      for (const k of env.keys()) expect(['PATH', 'LANG', 'BPFTRACE_NO_USER_SYMBOLS', 'FAKE_MODE', 'FAKE_STATE', 'PWD', 'SHLVL', '_', 'OLDPWD']).toContain(k);
    } finally {
      delete process.env.DROPTRACE_TEST_LEAK;
    }
  });
});
