// Configuration of one namespace, read on demand and cached for the length of
// one diagnosis: sysctls, sockets, routes, neighbours, sockstat. Every read is
// one argv-array process (nsenter into the namespace's anchor) or a procfs
// file; a tool that is missing is recorded, never fatal.
import { join } from 'node:path';
import type { Anchor } from '../netns/anchor.js';
import { runTool, ToolMissing, type Tools, type ToolName } from '../exec/tools.js';
import { readText, escapeRawControls } from '../counters/read.js';
import { parseNetDev } from '../counters/parse.js';
import { HOST_SYSCTLS, parseGrepH, sysctlFiles } from './sysctl.js';
import { execFile } from 'node:child_process';
import { CHILD_ENV } from '../exec/tools.js';
import { parseSs, type SocketInfo } from './sockets.js';

export interface RouteAnswer {
  ok: boolean;
  /** `ip route get` output (first line) or its error. */
  text: string;
}

export interface Neighbour {
  dst: string;
  dev?: string;
  state: string[];
  lladdr?: string;
}

/** What rules read about a namespace's configuration (NetnsConfig, or a fixture in tests). */
export interface ConfigSource {
  sysctls(): Promise<Map<string, string>>;
  sockets(): Promise<SocketInfo[] | undefined>;
  neighbours(): Promise<Neighbour[] | undefined>;
  route(dst: string): Promise<RouteAnswer | undefined>;
  sockstat(): Map<string, number>;
}

export class NetnsConfig implements ConfigSource {
  private sysctlP?: Promise<Map<string, string>>;
  private socketsP?: Promise<SocketInfo[] | undefined>;
  private neighP?: Promise<Neighbour[] | undefined>;
  private readonly routes = new Map<string, Promise<RouteAnswer | undefined>>();

  constructor(readonly anchor: Anchor, private readonly tools: Tools, private readonly notChecked: (tool: ToolName, what: string) => void) {}

  private nsArg(): string | undefined {
    return this.anchor.netns.self ? undefined : this.anchor.handle();
  }

  private run(tool: ToolName, args: string[], what: string) {
    return runTool(this.tools, tool, args, { netns: this.nsArg(), timeoutMs: 4000 }).catch((e) => {
      if (e instanceof ToolMissing) this.notChecked(e.tool, what);
      return undefined;
    });
  }

  interfaces(): string[] {
    const dir = this.anchor.procNet();
    const dev = dir ? readText(join(dir, 'dev')) : undefined;
    return dev ? [...new Set(parseNetDev(dev).map((s) => s.iface!))] : [];
  }

  /** net.* sysctls of this namespace (host-wide ones from our own /proc/sys). */
  sysctls(): Promise<Map<string, string>> {
    this.sysctlP ??= (async () => {
      const out = await this.grep(sysctlFiles(this.interfaces()));
      for (const p of HOST_SYSCTLS) {
        const v = readText(`/proc/sys/${p}`);
        if (v !== undefined) out.set(p.split('/').join('.'), v.trim().replace(/\s+/g, ' '));
      }
      return out;
    })();
    return this.sysctlP;
  }

  private async grep(files: string[]): Promise<Map<string, string>> {
    if (this.anchor.netns.self) {
      const out = new Map<string, string>();
      for (const f of files) {
        const t = readText(f);
        if (t !== undefined) out.set(f.slice('/proc/sys/'.length).split('/').join('.'), t.trim().replace(/\s+/g, ' '));
      }
      return out;
    }
    // grep is not in the tool list: it is part of every base system (like nsenter's util-linux).
    const nsenter = this.tools.path('nsenter');
    if (!nsenter) {
      this.notChecked('nsenter', 'sysctls of other namespaces');
      return new Map();
    }
    return new Promise((resolve) => {
      execFile(nsenter, [`--net=${this.anchor.handle()}`, '--', 'grep', '-H', '-s', '', ...files], { timeout: 4000, maxBuffer: 8 << 20, env: CHILD_ENV }, (_e, stdout) => resolve(parseGrepH(stdout ?? '')));
    });
  }

  /** TCP and UDP sockets with memory and owners (ss), or undefined without ss. */
  sockets(): Promise<SocketInfo[] | undefined> {
    this.socketsP ??= this.run('ss', ['-H', '-a', '-n', '-t', '-u', '-m', '-O', '-p'], 'listen backlogs and socket buffers').then((r) => (r ? parseSs(r.stdout) : undefined));
    return this.socketsP;
  }

  neighbours(): Promise<Neighbour[] | undefined> {
    this.neighP ??= this.run('ip', ['-j', 'neigh', 'show'], 'neighbour (ARP/NDP) states').then((r) => {
      if (!r || r.code !== 0) return undefined;
      try {
        return (JSON.parse(escapeRawControls(r.stdout)) as Array<Record<string, unknown>>).map((n) => ({
          dst: String(n.dst ?? ''), dev: typeof n.dev === 'string' ? n.dev : undefined,
          state: Array.isArray(n.state) ? n.state.map(String) : [], lladdr: typeof n.lladdr === 'string' ? n.lladdr : undefined,
        }));
      } catch {
        return undefined;
      }
    });
    return this.neighP;
  }

  /** `ip route get DST` (validated address only). */
  route(dst: string): Promise<RouteAnswer | undefined> {
    if (!/^[0-9a-fA-F:.]+$/.test(dst)) return Promise.resolve(undefined);
    let p = this.routes.get(dst);
    if (!p) {
      p = this.run('ip', ['route', 'get', dst], 'routes').then((r) => (r ? { ok: r.code === 0, text: (r.code === 0 ? r.stdout : r.stderr).trim().split('\n')[0] } : undefined));
      this.routes.set(dst, p);
    }
    return p;
  }

  /** /proc/net/sockstat: "TCP: inuse 5 orphan 0 tw 0 alloc 6 mem 1" → { 'TCP.mem': 1, ... }. */
  sockstat(): Map<string, number> {
    const dir = this.anchor.procNet();
    const out = new Map<string, number>();
    const t = dir ? readText(join(dir, 'sockstat')) : undefined;
    for (const line of (t ?? '').split('\n')) {
      const m = /^(\w+):\s+(.*)$/.exec(line);
      if (!m) continue;
      const parts = m[2].trim().split(/\s+/);
      for (let i = 0; i + 1 < parts.length; i += 2) if (/^\d+$/.test(parts[i + 1])) out.set(`${m[1]}.${parts[i]}`, Number(parts[i + 1]));
    }
    return out;
  }
}
