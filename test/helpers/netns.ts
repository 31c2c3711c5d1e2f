// Test hosts in network namespaces: veth pairs, addresses, nftables rules.
// Everything runs with argv arrays; names are generated here. Traffic only
// ever goes to addresses inside namespaces the test created.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';

const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: PATH_ENV, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
}

export function shOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { env: PATH_ENV, stdio: 'ignore' }).status === 0;
}

let counter = 0;
/** A short unique prefix so parallel runs and leftovers never collide. */
export function uniquePrefix(): string {
  counter++;
  return `dt${process.pid % 10000}${counter}`;
}

export class Lab {
  readonly namespaces: string[] = [];
  readonly prefix = uniquePrefix();

  ns(name: string): string {
    const full = `${this.prefix}${name}`;
    sh('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** veth between two namespaces with /24 addresses; returns the device names. */
  link(a: string, aAddr: string, b: string, bAddr: string, tag: string): { aDev: string; bDev: string } {
    const aDev = `${tag}a`;
    const bDev = `${tag}b`;
    sh('ip', ['link', 'add', aDev, 'netns', a, 'type', 'veth', 'peer', 'name', bDev, 'netns', b]);
    sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', aDev]);
    sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', bDev]);
    sh('ip', ['-n', a, 'link', 'set', aDev, 'up']);
    sh('ip', ['-n', b, 'link', 'set', bDev, 'up']);
    return { aDev, bDev };
  }

  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  /**
   * Two hosts on one veth pair: A is NET.1, B is NET.2 (a /24). With
   * `bInputRules`, B gets `table inet dtest` whose input chain holds them
   * (count them with nftCounter(B, 'dtest', comment)).
   */
  hosts(net: string, tag: string, bInputRules?: string): { A: string; B: string } {
    const A = this.ns('A');
    const B = this.ns('B');
    this.link(A, `${net}.1/24`, B, `${net}.2/24`, `${this.prefix}${tag}`);
    if (bInputRules) this.nft(B, `table inet dtest {\n  chain c_in { type filter hook input priority 0;\n    ${bInputRules}\n  }\n}\n`);
    return { A, B };
  }

  /** Load an nftables ruleset (our own constant text) into a namespace. */
  nft(ns: string, ruleset: string): void {
    this.exec(ns, 'nft', ['-f', '-'], ruleset);
  }

  /** Packet counter of the nft rule carrying `comment`. */
  nftCounter(ns: string, table: string, comment: string): number {
    const json = JSON.parse(this.exec(ns, 'nft', ['-j', 'list', 'table', 'inet', table])) as { nftables: Array<Record<string, any>> };
    for (const item of json.nftables) {
      const rule = item.rule;
      if (rule?.comment !== comment) continue;
      for (const e of rule.expr ?? []) if (e.counter) return Number(e.counter.packets);
    }
    throw new Error(`no counter for rule ${comment}`);
  }

  netnsInode(ns: string): number {
    return statSync(`/run/netns/${ns}`).ino;
  }

  cleanup(): void {
    for (const ns of this.namespaces.reverse()) shOk('ip', ['netns', 'del', ns]);
    this.namespaces.length = 0;
  }
}

/** Python snippets we run inside namespaces (fixed text; values via argv). */
export const PY_UDP_SEND = `
import socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sport = int(sys.argv[4]) if len(sys.argv) > 4 else 0
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if sport: s.bind(('', sport))
for i in range(n):
    try: s.sendto(b'droptrace-test', (dst, port))
    except OSError: pass
    time.sleep(0.002)
`;

export const PY_TCP_SINK = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
total = 0
while True:
    d = c.recv(65536)
    if not d: break
    total += len(d)
print(total, flush=True)
`;

export const PY_TCP_SEND = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.bind if False else None
buf = b'x' * 16384
deadline = time.time() + float(sys.argv[3])
sent = 0
while time.time() < deadline:
    s.sendall(buf); sent += len(buf)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(sent, flush=True)
`;

/** A process in a namespace, in its own process group (so a kill reaches `timeout`'s child too). */
export interface NsProcess {
  output(): string;
  errors(): string;
  done: Promise<{ code: number | null; out: string; err: string }>;
  /** Resolves once stdout contains `text` (a ready line the program prints), rejects if it exits first. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL to the whole process group. */
  kill(): void;
}

export function spawnIn(ns: string, cmd: string, args: string[]): NsProcess {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: PATH_ENV });
  let out = '';
  let err = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  let exited = false;
  const done = new Promise<{ code: number | null; out: string; err: string }>((r) => c.on('close', (code) => {
    exited = true;
    r({ code, out, err });
  }));
  return {
    output: () => out,
    errors: () => err,
    done,
    async waitFor(text: string, timeoutMs = 15_000) {
      const t0 = Date.now();
      while (!out.includes(text)) {
        if (exited) throw new Error(`${cmd} exited before printing ${JSON.stringify(text)}: ${err}`);
        if (Date.now() - t0 > timeoutMs) throw new Error(`${cmd} did not print ${JSON.stringify(text)} in ${timeoutMs} ms: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    kill() {
      if (exited || c.pid === undefined) return;
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch { /* gone */ }
    },
  };
}

/** Run to completion in a namespace without blocking the event loop. */
export function runIn(ns: string, cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return spawnIn(ns, cmd, args).done;
}

/**
 * The kernel's own SNMP/netstat counters of a namespace, absolute, from
 * iproute2's nstat (-a absolute, -s no history update: concurrent runs in
 * other namespaces never share history), e.g. TcpRetransSegs, UdpNoPorts.
 */
export function nstat(ns: string): Record<string, number> {
  const j = JSON.parse(sh('ip', ['netns', 'exec', ns, 'nstat', '-asz', '-j'])) as { kernel: Record<string, number> };
  return j.kernel;
}

/** after − before for each name (missing counters count as 0). */
export function nstatDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out;
}

/** TSO/GSO/GRO off on a device, so one packet is one segment (nft then counts segments). */
export function offloadsOff(ns: string, dev: string): void {
  sh('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off']);
}
