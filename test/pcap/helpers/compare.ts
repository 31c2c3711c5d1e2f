// tshark as the oracle: its tcp.analysis.* flags per packet, mapped onto
// droptrace's disjoint categories (a fast or spurious retransmission is not
// also a plain retransmission) and onto the data direction (duplicate ACKs
// and zero windows are sent by the receiver of the data they are about).
// Only this mapping lives here; the analysis itself is tshark's.
import { execFileSync } from 'node:child_process';

export const FLAGS = [
  'retransmission', 'fast_retransmission', 'spurious_retransmission', 'out_of_order', 'lost_segment',
  'duplicate_ack', 'zero_window', 'window_full', 'keep_alive', 'zero_window_probe',
] as const;
const ACK_EVIDENCE = new Set(['duplicate_ack', 'zero_window']);

/** "ip:port>ip:port flag" → count. */
export type Counts = Map<string, number>;

const bump = (m: Counts, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

export function tsharkCounts(file: string, extraArgs: string[] = []): Counts {
  const out = execFileSync('tshark', [
    '-n', '-r', file, ...extraArgs, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f',
    '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport',
    ...FLAGS.flatMap((f) => ['-e', `tcp.analysis.${f}`]),
  ], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', HOME: '/tmp' } });
  const m: Counts = new Map();
  for (const line of out.split('\n')) {
    if (!line) continue;
    const p = line.split('\t');
    if (!p[2]) continue; // not TCP
    const src = `${p[0] || p[1]}:${p[2]}`;
    const dst = `${p[3] || p[4]}:${p[5]}`;
    const on = new Map(FLAGS.map((f, i) => [f, (p[6 + i] ?? '') !== '']));
    for (const f of FLAGS) {
      if (!on.get(f)) continue;
      if (f === 'retransmission' && (on.get('fast_retransmission') || on.get('spurious_retransmission'))) continue;
      bump(m, ACK_EVIDENCE.has(f) ? `${dst}>${src} ${f}` : `${src}>${dst} ${f}`);
    }
  }
  return m;
}

const ep = (e: { ip: string; port: number }) => `${e.ip}:${e.port}`;

/** droptrace flow records → the same keys (reason = the tshark flag name). */
export function droptraceCounts(records: Array<Record<string, any>>): Counts {
  const m: Counts = new Map();
  for (const r of records) {
    if (r.event?.dataset !== 'droptrace.flows' || !r.source) continue;
    if (!(FLAGS as readonly string[]).includes(r.event.reason)) continue;
    bump(m, `${ep(r.source)}>${ep(r.destination)} ${r.event.reason}`, r.droptrace.count);
  }
  return m;
}

export interface Comparison {
  table: string;
  failures: string[];
}

/** Every key of either side: within `rel` (e.g. 0.05) of tshark's count, or within `abs`. */
export function compare(ours: Counts, theirs: Counts, rel: number, abs: number): Comparison {
  const keys = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
  const failures: string[] = [];
  const rows = keys.map((k) => {
    const a = ours.get(k) ?? 0;
    const b = theirs.get(k) ?? 0;
    const ok = Math.abs(a - b) <= Math.max(abs, rel * b);
    if (!ok) failures.push(`${k}: droptrace ${a}, tshark ${b}`);
    return `${ok ? ' ' : '!'} ${k.padEnd(60)} droptrace ${String(a).padStart(6)}  tshark ${String(b).padStart(6)}${a !== b ? `  (${a - b > 0 ? '+' : ''}${a - b})` : ''}`;
  });
  return { table: rows.join('\n'), failures };
}

export function total(m: Counts, flag?: string): number {
  let n = 0;
  for (const [k, v] of m) if (!flag || k.endsWith(` ${flag}`)) n += v;
  return n;
}
