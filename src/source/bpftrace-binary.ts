// Which bpftrace to run and how. Either a binary (default: `bpftrace` on a
// fixed system PATH) or a private install directory laid out by
// scripts/install-bpftrace-current: then we start that directory's own ld.so
// with --library-path so its libraries never replace the system's.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, isAbsolute, delimiter } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { isExecutable } from '../platform/executable.js';

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

/** Where scripts/install puts a current bpftrace privately (scripts/install-bpftrace-current). */
export const PRIVATE_INSTALL_DIR = '/opt/droptrace/bpftrace-current';

export interface BpftraceChoice {
  command: BpftraceCommand;
  version: BpftraceVersion;
  /** Why this one, in words (for `droptrace probes`). */
  why: string;
}

const newer = (a: BpftraceVersion, b: BpftraceVersion) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;

/**
 * Which bpftrace to run: the one given (--bpftrace / DROPTRACE_BPFTRACE), else
 * the newest that runs of the private install (scripts/install) and the
 * system's. Newer is better here: bpftrace >= 0.21 attaches raw tracepoints
 * (not skipped while another of our programs runs, ~4x faster start-up).
 */
export async function chooseBpftrace(
  spec: string | undefined,
  o: { privateDir?: string; searchPath?: string; version?: (c: BpftraceCommand) => Promise<BpftraceVersion> } = {},
): Promise<BpftraceChoice> {
  const versionOf = o.version ?? bpftraceVersion;
  if (spec && spec.length > 0) {
    const command = resolveBpftrace(spec, o.searchPath);
    return { command, version: await versionOf(command), why: 'given by --bpftrace / DROPTRACE_BPFTRACE' };
  }
  const candidates: BpftraceCommand[] = [];
  const dir = o.privateDir ?? PRIVATE_INSTALL_DIR;
  if (existsSync(join(dir, 'droptrace-layout.json'))) {
    try {
      candidates.push(fromLayout(dir));
    } catch { /* a broken private install: the system one may still do */ }
  }
  let systemError: unknown;
  try {
    candidates.push(resolveBpftrace(undefined, o.searchPath));
  } catch (e) {
    systemError = e;
  }
  const found: BpftraceChoice[] = [];
  const failed: string[] = [];
  const versions = await Promise.allSettled(candidates.map((c) => versionOf(c)));
  versions.forEach((v, i) => {
    if (v.status === 'fulfilled') found.push({ command: candidates[i], version: v.value, why: '' });
    else failed.push(`${candidates[i].display}: ${(v.reason as Error).message}`);
  });
  if (found.length === 0) {
    if (failed.length > 0) throw new EnvironmentError(`no bpftrace runs here: ${failed.join('; ')}`, 'Install it with `apt-get install bpftrace`, or run scripts/install for a current private one.');
    throw systemError;
  }
  found.sort((a, b) => newer(b.version, a.version));
  const best = found[0];
  const others = [...found.slice(1).map((c) => `${c.command.display} v${c.version.text}`), ...failed];
  best.why = others.length > 0 ? `newest usable (also found: ${others.join('; ')})` : 'the only bpftrace found';
  return best;
}

/** Minimal environment for bpftrace: no user variables leak into the tracer. */
export function childEnv(): NodeJS.ProcessEnv {
  return { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', BPFTRACE_NO_USER_SYMBOLS: '1' };
}
