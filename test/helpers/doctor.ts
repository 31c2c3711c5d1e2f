// Run `droptrace doctor --json` as a black box around a fault injection:
// start it, wait for its ready file (first counter sample taken, probes
// attached), inject, wait for it to finish its window, return the findings.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { startDroptrace } from './droptrace-process.js';
import { sh } from './netns.js';

export const FAULTS = resolve(import.meta.dirname, 'faults.py');
const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export interface DoctorRun {
  findings: Array<Record<string, any>>;
  stderr: string[];
  code: number | null;
}

export async function doctor(args: string[], inject: () => Promise<unknown> | unknown, env: Record<string, string> = {}): Promise<DoctorRun> {
  const dt = startDroptrace(['doctor', '--json', ...args], env);
  try {
    await dt.ready(60_000);
    await inject();
    const code = await dt.exited;
    return { findings: dt.json(), stderr: dt.stderr, code };
  } finally {
    dt.cleanup();
  }
}

/** Findings of one cause in the namespace(s) given. */
export function findingsOf(run: DoctorRun, cause: string, netns?: number): Array<Record<string, any>> {
  return run.findings.filter((f) => f.droptrace.finding.cause === cause && (netns === undefined || f.droptrace.netns?.inode === netns));
}

export function describe(run: DoctorRun): string {
  return run.findings.map((f) => `${f.droptrace.finding.severity} ${f.droptrace.finding.cause} [${f.droptrace.netns?.name ?? f.droptrace.netns?.inode ?? '-'}]: ${f.droptrace.finding.summary}\n    ${(f.droptrace.finding.evidence as any[]).map((e) => `${e.kind} ${e.name}=${e.value}`).join('; ')}`).join('\n') + '\n' + run.stderr.join('\n');
}

/** Evidence row of a finding by kind and name (prefix). */
export function evidence(f: Record<string, any>, kind: string, name: string): Record<string, any> | undefined {
  return (f.droptrace.finding.evidence as Array<Record<string, any>>).find((e) => e.kind === kind && String(e.name).startsWith(name));
}

/** A fault generator inside a namespace, run to completion. */
export function fault(ns: string, cmd: string, ...args: Array<string | number>): string {
  return sh('ip', ['netns', 'exec', ns, 'python3', FAULTS, cmd, ...args.map(String)]);
}

/** A long-running fault generator (server) in its own process group; resolves once it prints "ready". */
export function server(ns: string, cmd: string, ...args: Array<string | number>): Promise<{ child: ChildProcess; stop(): void }> {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', FAULTS, cmd, ...args.map(String)], { env: PATH_ENV, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch { /* gone */ }
  };
  return new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => {
      stop();
      rej(new Error(`${cmd} not ready`));
    }, 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(t);
        res({ child, stop });
      }
    });
    child.on('exit', (c) => {
      clearTimeout(t);
      rej(new Error(`${cmd} exited ${c}`));
    });
  });
}

/** A fault generator in the background (its own process group): resolves with its stdout when done. */
export function background(ns: string, cmd: string, ...args: Array<string | number>): { done: Promise<string>; stop(): void } {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', FAULTS, cmd, ...args.map(String)], { env: PATH_ENV, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    done: new Promise((r) => child.on('close', () => r(out))),
    stop: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* gone */ }
    },
  };
}

/** The kernel's own counters of a namespace (/proc/net/snmp + netstat), read with `ip netns exec … cat`. */
export function kernelCounters(ns: string): Map<string, number> {
  const text = sh('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/netstat']);
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const h = lines[i].trim().split(/\s+/);
    const v = lines[i + 1].trim().split(/\s+/);
    if (h[0] !== v[0]) {
      i--;
      continue;
    }
    for (let j = 1; j < h.length; j++) out.set(`${h[0].slice(0, -1)}.${h[j]}`, Number(v[j]));
  }
  return out;
}

export const counterDelta = (before: Map<string, number>, after: Map<string, number>, name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);

export { join };
