// Reads the settings of deploy/systemd/droptrace.service that the sandbox
// test reproduces (a unit file is INI-like: `Key=value`, repeated keys add up).
import { readFileSync } from 'node:fs';

export interface UnitService {
  execStart: string[];
  execStartPost: string[];
  environment: string[];
  capabilities: string[];
  workingDirectory: string;
  restartPreventExitStatus: number[];
  timeoutStopSec: number;
  raw: Map<string, string[]>;
}

/** Split a command line as systemd does for ours: spaces, double quotes; no specifiers are used. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  if (out.some((a) => a.includes('%') || a.includes('$'))) throw new Error(`unit command uses specifiers or variables the test does not expand: ${line}`);
  return out;
}

export function readServiceSection(path: string): UnitService {
  const raw = new Map<string, string[]>();
  let section = '';
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const line = l.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    raw.set(key, [...(raw.get(key) ?? []), line.slice(eq + 1)]);
  }
  const one = (k: string) => {
    const v = raw.get(k);
    if (!v || v.length !== 1) throw new Error(`${path}: expected exactly one ${k}=`);
    return v[0];
  };
  return {
    execStart: splitCommand(one('ExecStart')),
    execStartPost: splitCommand(one('ExecStartPost')),
    environment: (raw.get('Environment') ?? []).flatMap(splitCommand),
    capabilities: one('CapabilityBoundingSet').split(/\s+/),
    workingDirectory: one('WorkingDirectory'),
    restartPreventExitStatus: one('RestartPreventExitStatus').split(/\s+/).map(Number),
    timeoutStopSec: parseFloat(one('TimeoutStopSec')),
    raw,
  };
}

/** CAP_SYS_ADMIN → +sys_admin (setpriv's spelling). */
export const setprivCaps = (caps: string[]) => caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');

/** Capability bits as /proc/PID/status CapBnd shows them. */
const CAP_BITS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_KILL: 5, CAP_NET_ADMIN: 12, CAP_SYS_MODULE: 16,
  CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24, CAP_SYSLOG: 34, CAP_PERFMON: 38, CAP_BPF: 39,
};
export function capMask(caps: string[]): bigint {
  let m = 0n;
  for (const c of caps) {
    const bit = CAP_BITS[c];
    if (bit === undefined) throw new Error(`unknown capability ${c}`);
    m |= 1n << BigInt(bit);
  }
  return m;
}
