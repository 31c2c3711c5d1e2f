// The kernel's own loss counters per network namespace (/proc/net/snmp and
// /proc/net/netstat as seen from inside the netns), for reconciliation:
// what the tracer counted vs what the kernel counted in the same window tells
// the user how much the tracer could not see (filters, lost events, probes
// that are unavailable on this kernel).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Counter name → value, from the "Tcp:"/"TcpExt:"... header/value line pairs. */
export function parseSnmp(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = lines[i].trim().split(/\s+/);
    const v = lines[i + 1].trim().split(/\s+/);
    if (h.length < 2 || h[0] !== v[0] || !h[0].endsWith(':')) continue;
    // Header and value lines alternate; a value line never has letters after the prefix.
    if (v.slice(1).some((x) => !/^-?\d+$/.test(x))) continue;
    const prefix = h[0].slice(0, -1);
    for (let j = 1; j < h.length && j < v.length; j++) out.set(`${prefix}.${h[j]}`, Number(v[j]));
    i++;
  }
  return out;
}

/**
 * The counters droptrace reconciles against, by signal. Retransmits and loss
 * probes count the same events as our probes (coverage ≈ 1 when nothing is
 * missed). TCPOFOQueue counts every segment queued out of order, while the
 * incoming-loss probe counts holes and hole fills, so it is context, not a
 * ratio that should reach 1.
 */
export const RECONCILED = {
  retransmits: 'Tcp.RetransSegs',
  lossProbes: 'TcpExt.TCPLossProbes',
  outOfOrder: 'TcpExt.TCPOFOQueue',
} as const;
const COMPARABLE = new Set<string>(['retransmits', 'lossProbes']);

export type CounterReader = (netnsPath: string) => Promise<Map<string, number>>;

/** Read from inside a netns: nsenter (argv array, no shell) + cat of procfs. */
export const readCountersViaNsenter: CounterReader = (netnsPath) =>
  new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=${netnsPath}`, '--', 'cat', '/proc/self/net/snmp', '/proc/self/net/netstat'], { timeout: 5000, maxBuffer: 1 << 20, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout) => {
      if (err) reject(err);
      else resolve(parseSnmp(stdout));
    });
  });

/** Our own netns needs no helper process. */
export const readOwnCounters = async (procRoot = '/proc'): Promise<Map<string, number>> => {
  const [a, b] = await Promise.all([readFile(`${procRoot}/self/net/snmp`, 'utf8'), readFile(`${procRoot}/self/net/netstat`, 'utf8')]);
  return parseSnmp(a + '\n' + b);
};

export interface CoverageRow {
  /** Signal in snake_case (record field name): retransmits, loss_probes, out_of_order. */
  signal: string;
  counter: string;
  kernel: number;
  traced: number;
  /** traced / kernel, or null when the kernel counted nothing or the two don't count the same thing. */
  coverage: number | null;
}

/** Deltas between two snapshots, compared with what the tracer counted. */
export function coverage(before: Map<string, number>, after: Map<string, number>, traced: Partial<Record<keyof typeof RECONCILED, number>>): CoverageRow[] {
  return (Object.keys(RECONCILED) as Array<keyof typeof RECONCILED>).map((k) => {
    const name = RECONCILED[k];
    const delta = Math.max(0, (after.get(name) ?? 0) - (before.get(name) ?? 0));
    const t = traced[k] ?? 0;
    const signal = k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
    return { signal, counter: name, kernel: delta, traced: t, coverage: delta > 0 && COMPARABLE.has(k) ? Math.round((t / delta) * 1000) / 1000 : null };
  });
}
