// Which network namespaces exist and how to reach each: a named one under
// /run/netns (its name is the file name) or any process's /proc/PID/ns/net.
// Our own helper processes (anchor.ts) are left out of the scan, so a
// namespace someone deleted is not kept "visible" by our helper alone.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Netns {
  inode: number;
  /** A path nsenter --net= accepts. */
  handle: string;
  /** The /run/netns name, when it has one. */
  name?: string;
  /** The namespace this process runs in (read through /proc/self/net). */
  self: boolean;
  /** A process in it (not one of ours), when one was seen. */
  memberPid?: number;
}

export interface ScanOptions {
  procRoot?: string;
  runNetns?: string;
  /** Our helpers: their namespace membership does not count. */
  ignorePids?: ReadonlySet<number>;
}

const inodeOfLink = (link: string) => {
  const m = /\[(\d+)\]/.exec(link);
  return m ? Number(m[1]) : undefined;
};

export function selfNetnsInode(procRoot = '/proc'): number | undefined {
  try {
    return inodeOfLink(readlinkSync(join(procRoot, 'self', 'ns', 'net')));
  } catch {
    return undefined;
  }
}

export function scanNamespaces(o: ScanOptions = {}): Netns[] {
  const procRoot = o.procRoot ?? '/proc';
  const runNetns = o.runNetns ?? '/run/netns';
  const self = selfNetnsInode(procRoot);
  const byInode = new Map<number, Netns>();
  try {
    for (const n of readdirSync(runNetns).sort()) {
      const p = join(runNetns, n);
      let ino: number;
      try {
        ino = statSync(p).ino;
      } catch {
        continue;
      }
      if (!byInode.has(ino)) byInode.set(ino, { inode: ino, handle: p, name: n, self: ino === self });
    }
  } catch { /* no named namespaces */ }
  try {
    for (const pid of readdirSync(procRoot)) {
      if (!/^\d+$/.test(pid) || o.ignorePids?.has(Number(pid))) continue;
      const p = join(procRoot, pid, 'ns', 'net');
      let ino: number | undefined;
      try {
        ino = inodeOfLink(readlinkSync(p));
      } catch {
        continue; // exited, or a kernel thread
      }
      if (ino === undefined) continue;
      const have = byInode.get(ino);
      if (have) have.memberPid ??= Number(pid);
      else byInode.set(ino, { inode: ino, handle: p, self: ino === self, memberPid: Number(pid) });
    }
  } catch { /* no procfs */ }
  return [...byInode.values()].sort((a, b) => a.inode - b.inode);
}

/** "name (netns 4026532246)" or "netns 4026532246". */
export function netnsLabel(ns: { inode: number; name?: string }): string {
  return ns.name ? `${ns.name} (netns ${ns.inode})` : `netns ${ns.inode}`;
}
