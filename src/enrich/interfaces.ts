// ifindex + netns inode → interface name. Names live per network namespace,
// so we find a handle on each netns (named ones under /run/netns, and any
// process's /proc/PID/ns/net), identify it by inode, and list its links with
// `nsenter --net=HANDLE ip -j link show` (argv array, no shell; the handle is a
// path we found on disk, never user input). Results are cached per netns and
// refreshed on a miss, at most once per `refreshMs`, so a renamed or new
// interface shows up without a lookup storm under a drop flood.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalIp } from '../decode/address.js';

export interface NetnsHandle {
  inode: number;
  path: string;
}

export interface InterfaceResolverOptions {
  procRoot?: string;
  runNetns?: string;
  refreshMs?: number;
  now?: () => number;
  /** Lists links of the netns at `path` as [ifindex, name] pairs. */
  listLinks?: (path: string) => Array<[number, string]>;
  /** Lists the local and broadcast addresses of the netns at `path` (canonical spelling). */
  listAddrs?: (path: string) => string[];
  selfNetnsInode?: number;
}

export function netnsInodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** All network namespaces we can see a handle for, one path per inode. */
export function findNetnsHandles(procRoot = '/proc', runNetns = '/run/netns'): NetnsHandle[] {
  const seen = new Map<number, string>();
  const add = (path: string) => {
    const ino = netnsInodeOf(path);
    if (ino !== undefined && !seen.has(ino)) seen.set(ino, path);
  };
  try {
    for (const n of readdirSync(runNetns)) add(join(runNetns, n));
  } catch { /* no named namespaces */ }
  try {
    for (const pid of readdirSync(procRoot)) {
      if (!/^\d+$/.test(pid)) continue;
      const p = join(procRoot, pid, 'ns', 'net');
      try {
        // readlink is "net:[4026531840]": cheaper than stat and gives the inode.
        const m = /\[(\d+)\]/.exec(readlinkSync(p));
        if (m && !seen.has(Number(m[1]))) seen.set(Number(m[1]), p);
      } catch { /* process exited */ }
    }
  } catch { /* no procfs */ }
  return [...seen].map(([inode, path]) => ({ inode, path }));
}

export function listLinksWithIp(path: string): Array<[number, string]> {
  try {
    const stdout = execFileSync('nsenter', [`--net=${path}`, '--', 'ip', '-j', 'link', 'show'], {
      timeout: 3000, maxBuffer: 16 << 20, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // iproute2's JSON writer escapes only \b \f \n \r \t " and \\ in a name and
    // copies other control bytes (ESC, ...) raw, which JSON.parse rejects for
    // the whole netns. Names cannot contain whitespace, so every such byte is
    // inside a string: escape it there (the trailing newline stays).
    const json = stdout.replace(/[\u0000-\u0009\u000b-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const links = JSON.parse(json) as Array<{ ifindex?: unknown; ifname?: unknown }>;
    return links.filter((l) => typeof l.ifindex === 'number' && typeof l.ifname === 'string').map((l) => [l.ifindex as number, l.ifname as string]);
  } catch {
    return [];
  }
}

/** `ip -j addr show` in the netns: every local and broadcast address, canonical spelling. */
export function listAddrsWithIp(path: string): string[] {
  try {
    const stdout = execFileSync('nsenter', [`--net=${path}`, '--', 'ip', '-j', 'addr', 'show'], {
      timeout: 3000, maxBuffer: 16 << 20, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // Control bytes in names: see listLinksWithIp.
    const json = stdout.replace(/[\u0000-\u0009\u000b-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const links = JSON.parse(json) as Array<{ addr_info?: Array<{ local?: unknown; broadcast?: unknown }> }>;
    const out: string[] = [];
    for (const l of links) {
      for (const a of l.addr_info ?? []) {
        if (typeof a.local === 'string') out.push(canonicalIp(a.local));
        if (typeof a.broadcast === 'string') out.push(canonicalIp(a.broadcast));
      }
    }
    return out;
  } catch {
    return [];
  }
}

// Lookups are synchronous: a miss costs one `ip` run (~5 ms) and is
// rate-limited per netns, which keeps records in order without buffering.
export class InterfaceResolver {
  private readonly names = new Map<number, Map<number, string>>();
  private readonly lastRefresh = new Map<number, number>();
  private readonly opts: Required<Omit<InterfaceResolverOptions, 'selfNetnsInode'>>;

  constructor(opts: InterfaceResolverOptions = {}) {
    this.opts = {
      procRoot: opts.procRoot ?? '/proc',
      runNetns: opts.runNetns ?? '/run/netns',
      refreshMs: opts.refreshMs ?? 2000,
      now: opts.now ?? Date.now,
      listLinks: opts.listLinks ?? listLinksWithIp,
      listAddrs: opts.listAddrs ?? listAddrsWithIp,
    };
  }

  private readonly addrs = new Map<number, Set<string>>();
  private readonly lastAddrRefresh = new Map<number, number>();

  /**
   * Is `ip` an address of `netns` (local or broadcast)? undefined when the
   * netns has no handle or no addresses could be listed. A miss refreshes that
   * netns's list (rate-limited like names), so a new address shows up.
   */
  isLocalAddress(netns: number, ip: string): boolean | undefined {
    let set = this.addrs.get(netns);
    if (set?.has(ip)) return true;
    const last = this.lastAddrRefresh.get(netns) ?? -Infinity;
    if (this.opts.now() - last >= this.opts.refreshMs) {
      this.lastAddrRefresh.set(netns, this.opts.now());
      const handle = findNetnsHandles(this.opts.procRoot, this.opts.runNetns).find((h) => h.inode === netns);
      const list = handle ? this.opts.listAddrs(handle.path) : [];
      if (list.length > 0) this.addrs.set(netns, (set = new Set(list)));
    }
    if (!set) return undefined;
    return set.has(ip);
  }

  /** Name of `ifindex` in `netns`; a miss refreshes that netns (rate-limited). */
  nameOf(netns: number, ifindex: number): string | undefined {
    if (ifindex === 0) return undefined;
    const name = this.names.get(netns)?.get(ifindex);
    if (name !== undefined) return name;
    this.refresh(netns);
    return this.names.get(netns)?.get(ifindex);
  }

  /** Index of `name` in `netns` (for --filter-iface). */
  indexOf(netns: number, name: string): number | undefined {
    this.refresh(netns, true);
    for (const [idx, n] of this.names.get(netns) ?? []) if (n === name) return idx;
    return undefined;
  }

  refresh(netns: number, force = false): void {
    const last = this.lastRefresh.get(netns) ?? -Infinity;
    if (!force && this.opts.now() - last < this.opts.refreshMs) return;
    this.lastRefresh.set(netns, this.opts.now());
    const handle = findNetnsHandles(this.opts.procRoot, this.opts.runNetns).find((h) => h.inode === netns);
    if (!handle) return;
    const links = this.opts.listLinks(handle.path);
    if (links.length > 0) this.names.set(netns, new Map(links));
  }
}
