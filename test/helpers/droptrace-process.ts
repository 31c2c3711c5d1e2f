// Run the real CLI as a black box: spawn `bin/droptrace.js`, wait for its
// --ready-file, collect stdout lines and stderr, stop it with SIGINT.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const CLI = join(REPO, 'bin', 'droptrace.js');

/** bpftrace under test: DROPTRACE_BPFTRACE (binary or private dir) or the system one. */
export function bpftraceUnderTest(): string | undefined {
  return process.env.DROPTRACE_BPFTRACE || undefined;
}

export interface Running {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  readyFile: string;
  exited: Promise<number | null>;
  ready(timeoutMs?: number): Promise<Record<string, any>>;
  stop(): Promise<number | null>;
  json(): Array<Record<string, any>>;
  cleanup(): void;
}

export function startDroptrace(args: string[], env: Record<string, string> = {}, o: { bpftrace?: boolean } = {}): Running {
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-test-'));
  const readyFile = join(dir, 'ready');
  // Commands that trace nothing (counters) take no --bpftrace.
  const bt = o.bpftrace === false ? undefined : bpftraceUnderTest();
  const full = [CLI, ...args, '--ready-file', readyFile, ...(bt ? ['--bpftrace', bt] : [])];
  const child = spawn(process.execPath, full, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let outRest = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (outRest + d).split('\n');
    outRest = parts.pop()!;
    stdout.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => {
    if (outRest) stdout.push(outRest);
    r(code);
  }));
  return {
    child, stdout, stderr, readyFile, exited,
    async ready(timeoutMs = 30_000) {
      const t0 = Date.now();
      let code: number | null | undefined;
      void exited.then((c) => (code = c));
      while (Date.now() - t0 < timeoutMs) {
        if (existsSync(readyFile)) return JSON.parse(readFileSync(readyFile, 'utf8'));
        if (code !== undefined) throw new Error(`droptrace exited (${code}) before ready:\n${stderr.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      throw new Error(`droptrace not ready after ${timeoutMs} ms:\n${stderr.join('\n')}`);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
    json() {
      return stdout.filter((l) => l.trim()).map((l) => JSON.parse(l));
    },
    cleanup() {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run the CLI to completion (for error-path tests). */
export function runDroptrace(args: string[], opts: { env?: Record<string, string>; uid?: number; gid?: number; timeoutMs?: number; cli?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [opts.cli ?? CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...opts.env }, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A copy of the runnable CLI (bin, dist, probes, node_modules) that any user
 * can read, for running it as an unprivileged user: CI clones into a
 * `mktemp -d` directory (0700), which uid 65534 cannot even enter.
 * node_modules is hard-linked when /tmp is on the same filesystem.
 */
export function worldReadableCli(): { cli: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-cli-'));
  chmodSync(dir, 0o755);
  for (const part of ['bin', 'dist', 'probes', 'package.json']) execFileSync('cp', ['-a', join(REPO, part), dir]);
  try {
    execFileSync('cp', ['-al', join(REPO, 'node_modules'), dir], { stdio: 'ignore' });
  } catch {
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
    execFileSync('cp', ['-a', join(REPO, 'node_modules'), dir]);
  }
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return { cli: join(dir, 'bin', 'droptrace.js'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
