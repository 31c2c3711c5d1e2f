// Which bpftrace to run and how. Either a binary (default: `bpftrace` on a
// fixed system PATH) or a private install directory laid out by
// scripts/install-bpftrace-current: then we start that directory's own ld.so
// with --library-path so its libraries never replace the system's.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, accessSync, constants } from 'node:fs';
import { join, isAbsolute, delimiter } from 'node:path';
import { EnvironmentError } from '../errors.js';

export interface BpftraceCommand {
  /** Executable to spawn. */
  file: string;
  /** Arguments placed before bpftrace's own arguments. */
  prefixArgs: string[];
  /** Human-readable description (for `droptrace probes`). */
  display: string;
}

export interface BpftraceVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

/** PATH used to find bpftrace and for the child's environment. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export function resolveBpftrace(spec: string | undefined, searchPath = SYSTEM_PATH): BpftraceCommand {
  if (spec && spec.length > 0) {
    if (!isAbsolute(spec)) throw new EnvironmentError(`--bpftrace must be an absolute path, got ${JSON.stringify(spec)}`);
    let st;
    try {
      st = statSync(spec);
    } catch {
      throw new EnvironmentError(`bpftrace not found at ${spec}`, 'Install it with `apt-get install bpftrace`, or point --bpftrace / DROPTRACE_BPFTRACE at a binary or a private install directory.');
    }
    if (st.isDirectory()) return fromLayout(spec);
    if (!isExecutable(spec)) throw new EnvironmentError(`${spec} is not an executable file`);
    return { file: spec, prefixArgs: [], display: spec };
  }
  for (const dir of searchPath.split(delimiter)) {
    const p = join(dir, 'bpftrace');
    if (isExecutable(p)) return { file: p, prefixArgs: [], display: p };
  }
  throw new EnvironmentError('bpftrace is not installed (not found in ' + searchPath + ')', 'Install it with `apt-get install bpftrace` (Debian/Ubuntu) or `dnf install bpftrace`, or set --bpftrace.');
}

function fromLayout(dir: string): BpftraceCommand {
  const layoutFile = join(dir, 'droptrace-layout.json');
  if (!existsSync(layoutFile)) {
    throw new EnvironmentError(`${dir} is a directory without droptrace-layout.json`, 'Run scripts/install-bpftrace-current to create a private bpftrace install.');
  }
  let layout: { loader?: unknown; libraryPath?: unknown; bpftrace?: unknown };
  try {
    layout = JSON.parse(readFileSync(layoutFile, 'utf8'));
  } catch (e) {
    throw new EnvironmentError(`${layoutFile} is not valid JSON: ${(e as Error).message}`);
  }
  const { loader, libraryPath, bpftrace } = layout;
  if (typeof loader !== 'string' || typeof libraryPath !== 'string' || typeof bpftrace !== 'string' || !isExecutable(loader)) {
    throw new EnvironmentError(`${layoutFile} must name an executable loader, a libraryPath and the bpftrace binary`);
  }
  return { file: loader, prefixArgs: ['--library-path', libraryPath, bpftrace], display: `${bpftrace} (private, via ${loader})` };
}

export function parseVersion(text: string): BpftraceVersion | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` };
}

export function versionAtLeast(v: BpftraceVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

export function runBpftrace(cmd: BpftraceCommand, args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd.file, [...cmd.prefixArgs, ...args], { timeout: timeoutMs, maxBuffer: 32 << 20, env: childEnv() }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export async function bpftraceVersion(cmd: BpftraceCommand): Promise<BpftraceVersion> {
  const r = await runBpftrace(cmd, ['--version'], 10_000);
  const v = parseVersion(r.stdout + r.stderr);
  if (!v) throw new EnvironmentError(`could not run ${cmd.display} --version: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  return v;
}

/** Minimal environment for bpftrace: no user variables leak into the tracer. */
export function childEnv(): NodeJS.ProcessEnv {
  return { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', BPFTRACE_NO_USER_SYMBOLS: '1' };
}
