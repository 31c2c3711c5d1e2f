// Reading another network namespace without setns (Node cannot call it):
// one long-lived helper process per namespace, started inside it with
// `nsenter --net=HANDLE -- tc -s -d -j -force -batch -`. Then
//   - /proc/<helper pid>/net/* are that namespace's snmp, netstat, snmp6,
//     dev, stat/nf_conntrack, ... files: read directly, no process per read;
//   - each "qdisc show" line written to its stdin answers with one line of
//     qdisc statistics JSON (tc flushes per command): no process per read.
// Without tc the helper is `cat` (procfs only). Without nsenter, a member
// process's /proc/PID/net is used when there is one. The helper reads stdin,
// so it exits by itself when droptrace dies (its pipe closes). Our own
// namespace needs no nsenter: /proc/self/net, and tc directly.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns } from './namespaces.js';
import { CHILD_ENV, type Tools } from '../exec/tools.js';

export interface Anchor {
  readonly netns: Netns;
  /** Directory holding this namespace's procfs net files, or undefined when unreachable. */
  procNet(): string | undefined;
  /** A path for `nsenter --net=` (our helper's while it lives). */
  handle(): string;
  /** tc -s -d -j qdisc show, parsed; undefined without tc or on a timeout. */
  qdiscs(): Promise<unknown[] | undefined>;
  /** Why this namespace cannot be read, if it cannot. */
  readonly problem?: string;
  readonly pid?: number;
  close(): void;
}

const CAT_CANDIDATES = ['/usr/bin/cat', '/bin/cat'];

export class HelperAnchor implements Anchor {
  private child: ChildProcess | null = null;
  private buf = '';
  private waiting: Array<{ resolve: (l: string | undefined) => void; timer: NodeJS.Timeout }> = [];
  private readonly hasTc: boolean;
  /** The helper's /proc/PID/ns/net is the target's (nsenter has switched before exec). */
  private entered = false;
  problem?: string;

  constructor(readonly netns: Netns, private readonly tools: Tools, private readonly procRoot = '/proc') {
    const tc = tools.path('tc');
    this.hasTc = tc !== undefined;
    const cat = CAT_CANDIDATES.find((p) => existsSync(p));
    const inner = tc ? [tc, '-s', '-d', '-j', '-force', '-batch', '-'] : cat ? [cat] : null;
    const nsenter = tools.path('nsenter');
    if (!inner) {
      this.problem = 'neither tc nor cat found';
      return;
    }
    if (netns.self) this.start(inner);
    else if (nsenter) this.start([nsenter, `--net=${netns.handle}`, '--', ...inner]);
    else if (netns.memberPid === undefined) this.problem = 'nsenter not found and no process to read it through';
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(argv: string[]): void {
    const c = spawn(argv[0], argv.slice(1), { stdio: ['pipe', this.hasTc ? 'pipe' : 'ignore', 'ignore'], env: CHILD_ENV });
    this.child = c;
    c.on('error', () => this.died());
    c.on('exit', () => this.died());
    c.stdin!.on('error', () => undefined);
    c.stdout?.setEncoding('utf8').on('data', (d: string) => this.onData(d));
  }

  private died(): void {
    this.child = null;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const w = this.waiting.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(line);
      }
    }
  }

  /**
   * Resolves once the helper runs inside the target namespace: until nsenter
   * has called setns, the forked child is still in ours, and reading its
   * /proc/PID/net then would report our counters under its name.
   */
  async ready(timeoutMs = 3000): Promise<boolean> {
    if (this.netns.self || this.entered) return true;
    const t0 = Date.now();
    while (this.child?.pid && Date.now() - t0 < timeoutMs) {
      try {
        if (readlinkSync(join(this.procRoot, String(this.child.pid), 'ns', 'net')) === `net:[${this.netns.inode}]`) {
          this.entered = true;
          return true;
        }
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!this.child) this.problem ??= 'the helper process exited (namespace gone, or nsenter refused)';
    return this.netns.memberPid !== undefined;
  }

  get alive(): boolean {
    return this.child !== null;
  }

  procNet(): string | undefined {
    if (this.netns.self) return join(this.procRoot, 'self', 'net');
    if (this.child?.pid && this.entered) return join(this.procRoot, String(this.child.pid), 'net');
    if (this.netns.memberPid !== undefined) return join(this.procRoot, String(this.netns.memberPid), 'net');
    return undefined;
  }

  handle(): string {
    return this.child?.pid && this.entered && !this.netns.self ? join(this.procRoot, String(this.child.pid), 'ns', 'net') : this.netns.handle;
  }

  qdiscs(timeoutMs = 2000): Promise<unknown[] | undefined> {
    const c = this.child;
    if (!this.hasTc || !c || !c.stdin!.writable) return Promise.resolve(undefined);
    return new Promise<string | undefined>((resolve) => {
      // A command tc refuses prints nothing on stdout (-force goes on): time out
      // and restart the helper so later answers cannot shift by one.
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w.timer !== timer);
        resolve(undefined);
        c.kill('SIGKILL');
      }, timeoutMs);
      this.waiting.push({ resolve, timer });
      c.stdin!.write('qdisc show\n');
    }).then((line) => {
      if (line === undefined) return undefined;
      try {
        const v = JSON.parse(line);
        return Array.isArray(v) ? v : undefined;
      } catch {
        return undefined;
      }
    });
  }

  close(): void {
    const c = this.child;
    this.child = null;
    if (c) {
      c.stdin!.end();
      c.kill('SIGTERM');
    }
    this.died();
  }
}
