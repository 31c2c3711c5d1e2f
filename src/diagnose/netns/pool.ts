// One anchor (helper process) per network namespace we watch, kept in step
// with the namespaces that exist: new ones get a helper, gone ones lose it,
// a helper that died is replaced at the next sync.
import { HelperAnchor } from './anchor.js';
import { scanNamespaces, type Netns, type ScanOptions } from './namespaces.js';
import type { Tools } from '../exec/tools.js';

export interface PoolOptions extends Omit<ScanOptions, 'ignorePids'> {
  tools: Tools;
  /** Only these namespace inodes (--netns / --filter-netns); all when empty. */
  only?: ReadonlySet<number>;
  /** At most this many namespaces (the rest are reported, not read). */
  max?: number;
}

export class AnchorPool {
  private readonly anchors = new Map<number, HelperAnchor>();
  /** Namespaces seen but not watched because of `max`. */
  skipped = 0;

  constructor(private readonly o: PoolOptions) {}

  /** Rescan namespaces; resolves once every new helper is inside its namespace. */
  async sync(): Promise<HelperAnchor[]> {
    const ours = new Set<number>();
    for (const a of this.anchors.values()) if (a.pid) ours.add(a.pid);
    let found = scanNamespaces({ procRoot: this.o.procRoot, runNetns: this.o.runNetns, ignorePids: ours });
    if (this.o.only?.size) found = found.filter((n) => this.o.only!.has(n.inode));
    const max = this.o.max ?? 1000;
    this.skipped = Math.max(0, found.length - max);
    // Our own namespace first (the host's view in the usual case), then by inode.
    found = [...found.filter((n) => n.self), ...found.filter((n) => !n.self)].slice(0, max);
    const want = new Map<number, Netns>(found.map((n) => [n.inode, n]));
    for (const [ino, a] of this.anchors) {
      if (!want.has(ino)) {
        a.close();
        this.anchors.delete(ino);
      }
    }
    const fresh: HelperAnchor[] = [];
    for (const n of want.values()) {
      const have = this.anchors.get(n.inode);
      if (have && (have.alive || n.self)) {
        // Names can appear after the first scan (ip netns attach).
        if (n.name && !have.netns.name) (have.netns as { name?: string }).name = n.name;
        continue;
      }
      have?.close();
      const a = new HelperAnchor(n, this.o.tools, this.o.procRoot);
      this.anchors.set(n.inode, a);
      fresh.push(a);
    }
    await Promise.all(fresh.map((a) => a.ready()));
    return this.list();
  }

  list(): HelperAnchor[] {
    return [...this.anchors.values()];
  }

  get(inode: number): HelperAnchor | undefined {
    return this.anchors.get(inode);
  }

  close(): void {
    for (const a of this.anchors.values()) a.close();
    this.anchors.clear();
  }
}
