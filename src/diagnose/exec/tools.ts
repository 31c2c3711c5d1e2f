// External tools the diagnosis uses (nsenter, tc, ip, ss, nft, iptables-*,
// ethtool), found once on the user's PATH and then always run by absolute
// path with an argv array, no shell and a minimal environment. A tool that is
// not found is remembered so the doctor can say what it could not check.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { isExecutable } from '../../platform/executable.js';

export const TOOL_NAMES = ['nsenter', 'tc', 'ip', 'ss', 'nft', 'iptables-legacy-save', 'ip6tables-legacy-save', 'ethtool'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** What each tool is needed for, said in a finding when it is missing. */
export const TOOL_PURPOSE: Readonly<Record<ToolName, string>> = {
  nsenter: 'reading counters and configuration of other network namespaces',
  tc: 'qdisc drop/overlimit counters and qdisc limits',
  ip: 'routes, neighbours and interface kinds',
  ss: 'listen backlogs and socket buffers of the affected sockets',
  nft: 'naming the nftables rule behind NETFILTER_DROP (rule counters)',
  'iptables-legacy-save': 'naming the iptables-legacy rule behind NETFILTER_DROP',
  'ip6tables-legacy-save': 'naming the ip6tables-legacy rule behind NETFILTER_DROP',
  ethtool: 'NIC driver counters (ethtool -S)',
};

// Children get this PATH only (tools are passed by absolute path anyway).
const CHILD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export class Tools {
  private readonly found = new Map<string, string>();
  readonly missing = new Set<ToolName>();

  /** `searchPath`: the PATH to look in (default: this process's). */
  constructor(searchPath = process.env.PATH ?? '', names: readonly ToolName[] = TOOL_NAMES) {
    const dirs = searchPath.split(':').filter((d) => d.startsWith('/'));
    for (const n of names) {
      const hit = dirs.map((d) => join(d, n)).find(isExecutable);
      if (hit) this.found.set(n, hit);
      else this.missing.add(n);
    }
  }

  path(name: ToolName): string | undefined {
    return this.found.get(name);
  }

  has(name: ToolName): boolean {
    return this.found.has(name);
  }
}

export class ToolMissing extends Error {
  constructor(readonly tool: ToolName) {
    super(`${tool} not found on PATH`);
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** A handle of the target netns (/run/netns/X, /proc/PID/ns/net); undefined = ours. */
  netns?: string;
  timeoutMs?: number;
  maxBuffer?: number;
}

/** Run `tool args…` (inside `netns` through nsenter). Resolves even on a non-zero exit. */
export function runTool(tools: Tools, tool: ToolName, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const bin = tools.path(tool);
  if (!bin) return Promise.reject(new ToolMissing(tool));
  let argv = [bin, ...args];
  if (o.netns) {
    const ns = tools.path('nsenter');
    if (!ns) return Promise.reject(new ToolMissing('nsenter'));
    argv = [ns, `--net=${o.netns}`, '--', ...argv];
  }
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: o.timeoutMs ?? 5000, maxBuffer: o.maxBuffer ?? 64 << 20, env: CHILD_ENV, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? ((err as unknown as { code: number }).code) : -1) : 0;
      if (err && code === -1 && !stdout) reject(err);
      else resolve({ stdout, stderr, code });
    });
  });
}

export { CHILD_ENV };
