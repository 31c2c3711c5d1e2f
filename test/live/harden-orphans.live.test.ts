// Live: bpftrace never outlives the collector, however the collector ends
// (issue 10, rows 2 and 3), counted with bpftool for THAT bpftrace pid only:
//   - SIGKILL of the collector during `run --interval 3600` (no output to
//     make bpftrace notice): its programs leave the kernel within a second;
//   - a crash (an uncaught exception, injected with `node --import`): the
//     last-resort handler stops bpftrace, flushes the final window to the
//     files (= the nft counter) and exits 70;
//   - `npx droptrace run` with SIGTERM sent to npx only, and SIGHUP (the
//     terminal or shell going away): a clean stop, nothing left attached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND } from '../helpers/netns.js';
import { bpftraceUnderTest, CLI, REPO, sleep } from '../helpers/droptrace-process.js';
import { attachedBy, isRunning, progIdsOf, stillLoaded } from '../helpers/bpf-programs.js';

const PRELOAD = join(REPO, 'test', 'helpers', 'crash-preload.mjs');
const root = mkdtempSync(join(tmpdir(), 'droptrace-orphans-'));
let n = 0;
const fresh = (name: string) => join(root, `${name}${++n}`);

async function waitFor<T>(what: string, get: () => T | undefined | false, timeoutMs = 30_000, stepMs = 50): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

interface Started {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  ready: () => Promise<{ pid: number; bpftracePid: number }>;
}

/** Start `cmd args` in its own process group; the ready file is passed by the caller. */
function start(cmd: string, args: string[], readyFile: string, env: Record<string, string> = {}): Started {
  const child = spawn(cmd, args, { cwd: REPO, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env } });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  return {
    child,
    stderr: () => err,
    exited,
    ready: () => waitFor(`ready file (stderr so far: ${err})`, () => {
      if (code !== undefined) throw new Error(`exited (${code}) before ready:\n${err}`);
      return existsSync(readyFile) && JSON.parse(readFileSync(readyFile, 'utf8'));
    }, 60_000),
  };
}

const bt = () => (bpftraceUnderTest() ? ['--bpftrace', bpftraceUnderTest()!] : []);

/** Programs of that bpftrace as the kernel sees them (≥ 1 attachment per traced signal). */
function programsOf(pid: number): { ids: number[]; attached: number } {
  const ids = progIdsOf(pid);
  const attached = attachedBy(pid);
  expect(ids.length).toBeGreaterThanOrEqual(attached.length);
  for (const a of attached) expect(ids).toContain(a.prog_id);
  return { ids, attached: attached.length };
}

/** ms until the process is gone and none of its programs is loaded any more. */
async function goneWithPrograms(pid: number, ids: number[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(`bpftrace ${pid} gone and programs ${ids.join(',')} unloaded`, () => !isRunning(pid) && stillLoaded(ids).length === 0, timeoutMs, 20);
  return Date.now() - t0;
}

function killGroup(c: ChildProcess) {
  try {
    process.kill(-c.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

const records = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const droppedTo = (dir: string, port: number) =>
  records(join(dir, 'flows.ndjson')).filter((r) => r.event.action === 'packet-dropped' && r.destination?.port === port).reduce((a, r) => a + r.droptrace.count, 0);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('SIGKILL of the collector (row 2)', () => {
  const started: Started[] = [];
  afterAll(() => started.forEach((s) => killGroup(s.child)));

  it.each([1, 2, 3])('run --interval 3600, try %i: the programs of its bpftrace leave the kernel within a second', async () => {
    const ready = fresh('ready');
    const s = start(process.execPath, [CLI, 'run', ...bt(), '--interval', '3600', '--output-dir', fresh('out'), '--ready-file', ready], ready);
    started.push(s);
    const r = await s.ready();
    const before = programsOf(r.bpftracePid);
    // drops, retransmits, SYN-ACK retransmits, incoming loss, flow ends: one attachment each at least.
    expect(before.attached).toBeGreaterThanOrEqual(5);
    expect(stillLoaded(before.ids)).toEqual(before.ids);
    process.kill(r.pid, 'SIGKILL');
    await s.exited;
    const ms = await goneWithPrograms(r.bpftracePid, before.ids, 5000);
    expect(ms).toBeLessThan(1000);
  });
});

describe('a crash of the collector: the last-resort handler (row 1, "a last-resort handler")', () => {
  const lab = new Lab();
  let A: string, B: string;
  beforeAll(() => {
    ({ A, B } = lab.hosts('10.214.1', 'c', 'udp dport 40631 counter drop comment "crash-drop";'));
  });
  afterAll(() => lab.cleanup());

  it('stops bpftrace, writes the final window and stats to the files, exits 70', async () => {
    const ready = fresh('ready');
    const out = fresh('out');
    const crash = fresh('crash');
    const s = start(process.execPath, ['--import', PRELOAD, CLI, 'run', ...bt(), '--interval', '3600', '--filter-netns', String(lab.netnsInode(B)), '--output-dir', out, '--ready-file', ready], ready, { DROPTRACE_TEST_CRASH_FILE: crash });
    try {
      const r = await s.ready();
      const before = programsOf(r.bpftracePid);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.214.1.2', '40631', '25', '41631']);
      const sent = lab.nftCounter(B, 'dtest', 'crash-drop');
      expect(sent).toBe(25);
      writeFileSync(crash, '');
      expect(await s.exited).toBe(70);
      const err = s.stderr();
      expect(err).toContain('internal error (this is a bug, please report it): Error: injected crash');
      expect(err).toContain('emergency shutdown: stopping bpftrace, flushing and closing every sink');
      // Stopped (not orphaned) before we exited: nothing of it is left.
      expect(isRunning(r.bpftracePid)).toBe(false);
      expect(stillLoaded(before.ids)).toEqual([]);
      // The window still open at the crash was flushed by bpftrace's END and written.
      expect(droppedTo(out, 40631)).toBe(sent);
      const stats = records(join(out, 'stats.ndjson'));
      expect(stats.at(-1)?.droptrace.stats.final).toBe(true);
    } finally {
      killGroup(s.child);
    }
  });
});

describe('launchers going away (row 3)', () => {
  const lab = new Lab();
  let A: string, B: string;
  beforeAll(() => {
    ({ A, B } = lab.hosts('10.214.2', 'n', 'udp dport 40641 counter drop comment "npx-drop";'));
  });
  afterAll(() => lab.cleanup());

  it('SIGTERM to the npx process only: droptrace stops cleanly (final window written), bpftrace and its programs are gone', async () => {
    const ready = fresh('ready');
    const out = fresh('out');
    const s = start('npx', ['--yes', 'droptrace', 'run', ...bt(), '--interval', '3600', '--filter-netns', String(lab.netnsInode(B)), '--output-dir', out, '--ready-file', ready], ready);
    try {
      const r = await s.ready();
      // npm → sh → node: the ready file's pid is node, not the npx we signal.
      expect(r.pid).not.toBe(s.child.pid);
      const before = programsOf(r.bpftracePid);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.214.2.2', '40641', '12', '41641']);
      const sent = lab.nftCounter(B, 'dtest', 'npx-drop');
      process.kill(s.child.pid!, 'SIGTERM');
      await s.exited;
      await waitFor('the droptrace node process to exit', () => !isRunning(r.pid), 30_000);
      await goneWithPrograms(r.bpftracePid, before.ids, 5000);
      expect(droppedTo(out, 40641)).toBe(sent);
      expect(records(join(out, 'stats.ndjson')).at(-1)?.droptrace.stats.final).toBe(true);
    } finally {
      killGroup(s.child);
    }
  });

  it('SIGHUP (the terminal or shell went away): a clean stop, as SIGTERM', async () => {
    const ready = fresh('ready');
    const out = fresh('out');
    const s = start(process.execPath, [CLI, 'run', ...bt(), '--interval', '3600', '--filter-netns', String(lab.netnsInode(B)), '--output-dir', out, '--ready-file', ready], ready);
    try {
      const r = await s.ready();
      const before = programsOf(r.bpftracePid);
      const base = lab.nftCounter(B, 'dtest', 'npx-drop');
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.214.2.2', '40641', '9', '41642']);
      const sent = lab.nftCounter(B, 'dtest', 'npx-drop') - base;
      expect(sent).toBe(9);
      process.kill(r.pid, 'SIGHUP');
      expect(await s.exited).toBe(0);
      expect(isRunning(r.bpftracePid)).toBe(false);
      expect(stillLoaded(before.ids)).toEqual([]);
      expect(droppedTo(out, 40641)).toBe(sent);
      expect(records(join(out, 'stats.ndjson')).at(-1)?.droptrace.stats.final).toBe(true);
    } finally {
      killGroup(s.child);
    }
  });
});
