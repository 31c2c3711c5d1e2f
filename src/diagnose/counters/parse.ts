// Parsers for the kernel's counter files, pure (text in, samples out), so
// they test on fixtures copied from a real machine (test/fixtures/procfs/).
import { parseSnmp } from '../../platform/procfs-counters.js';

export type CounterSource = 'snmp' | 'netstat' | 'snmp6' | 'softnet' | 'nf_conntrack' | 'neigh' | 'dev' | 'qdisc' | 'ethtool';

/** Counters that are the same from every namespace (one kernel-wide table): read once, under the host. */
export const HOST_WIDE: ReadonlySet<CounterSource> = new Set(['softnet', 'neigh']);

export interface CounterSample {
  /** Dotted name: "TcpExt.ListenDrops", "Udp6.RcvbufErrors", "dev.rx_dropped", "qdisc.drops", "softnet.dropped". */
  name: string;
  source: CounterSource;
  /** Interface (dev, qdisc, ethtool). */
  iface?: string;
  /** "kind handle" of a qdisc, e.g. "tbf 8001:". */
  qdisc?: string;
  value: number;
}

export const sampleKey = (s: Pick<CounterSample, 'name' | 'iface' | 'qdisc'>) => `${s.name}|${s.iface ?? ''}|${s.qdisc ?? ''}`;

/** Keep only some counters while parsing (the watched ones: fewer objects per tick). */
export type Keep = (name: string, source: CounterSource) => boolean;

/** /proc/net/snmp or /proc/net/netstat ("Prefix: names" / "Prefix: values" line pairs). */
export function parseSnmpFile(text: string, source: 'snmp' | 'netstat', keep?: Keep): CounterSample[] {
  if (keep) return parseSnmpKept(text, source, keep);
  const out: CounterSample[] = [];
  for (const [name, value] of parseSnmp(text)) out.push({ name, source, value });
  return out;
}

/**
 * The same, for the kept counters only, with the header lines' column plans
 * cached: every namespace prints the same headers every tick, so names are
 * built and decided once, and only kept columns' values are converted.
 */
const plans = new Map<string, Array<[number, string]>>();

function parseSnmpKept(text: string, source: 'snmp' | 'netstat', keep: Keep): CounterSample[] {
  const out: CounterSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i];
    let plan = plans.get(head);
    if (!plan) {
      const h = head.trim().split(/\s+/);
      if (h.length < 2 || !h[0].endsWith(':')) continue;
      const prefix = h[0].slice(0, -1);
      plan = [];
      for (let j = 1; j < h.length; j++) if (keep(`${prefix}.${h[j]}`, source)) plan.push([j, `${prefix}.${h[j]}`]);
      if (plans.size < 256) plans.set(head, plan);
    }
    const v = lines[i + 1].split(' ');
    // A value line repeats the header's prefix.
    if (v[0] !== head.slice(0, head.indexOf(' '))) continue;
    for (const [j, name] of plan) {
      const x = Number(v[j]);
      if (Number.isFinite(x)) out.push({ name, source, value: x });
    }
    i++;
  }
  return out;
}

const SNMP6_PREFIXES = ['UdpLite6', 'Icmp6', 'Udp6', 'Ip6'];

/** /proc/net/snmp6: "Ip6InDiscards   3" lines → "Ip6.InDiscards". */
export function parseSnmp6(text: string, keep?: Keep): CounterSample[] {
  const out: CounterSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    const p = SNMP6_PREFIXES.find((x) => m[1].startsWith(x) && m[1].length > x.length);
    const name = p ? `${p}.${m[1].slice(p.length)}` : m[1];
    if (!keep || keep(name, 'snmp6')) out.push({ name, source: 'snmp6', value: Number(m[2]) });
  }
  return out;
}

// /proc/net/softnet_stat columns (net/core/net-procfs.c, softnet_seq_show):
// 0 processed, 1 dropped (backlog full: netdev_max_backlog), 2 time_squeeze
// (net_rx_action ran out of budget/time), 9 received_rps, 10 flow_limit_count.
// Columns 3-8 are always 0 (removed fields); 11+ exist on 5.x+/6.x only.
const SOFTNET_COLUMNS: Array<[number, string]> = [[1, 'softnet.dropped'], [2, 'softnet.time_squeeze'], [10, 'softnet.flow_limit_count']];

/** Sums over CPUs of the loss-related softnet columns, plus the CPU with the most drops. */
export function parseSoftnet(text: string): { samples: CounterSample[]; worstCpu?: { cpu: number; dropped: number } } {
  const sums = new Map<string, number>(SOFTNET_COLUMNS.map(([, n]) => [n, 0]));
  let worst: { cpu: number; dropped: number } | undefined;
  text.split('\n').filter((l) => l.trim()).forEach((line, row) => {
    const cols = line.trim().split(/\s+/).map((h) => parseInt(h, 16));
    for (const [i, n] of SOFTNET_COLUMNS) if (Number.isFinite(cols[i])) sums.set(n, sums.get(n)! + cols[i]);
    const cpu = cols.length > 12 && Number.isFinite(cols[12]) ? cols[12] : row;
    if (cols[1] > 0 && (!worst || cols[1] > worst.dropped)) worst = { cpu, dropped: cols[1] };
  });
  return { samples: [...sums].map(([name, value]) => ({ name, source: 'softnet', value })), worstCpu: worst };
}

/**
 * /proc/net/stat/nf_conntrack: a header of column names, then one row of hex
 * values per CPU (per netns). Every column but `entries` is a per-CPU event
 * count (summed); `entries` is the table's current size (same in each row).
 * Column names differ between kernels, so they are read from the header.
 */
export function parseConntrackStat(text: string): { samples: CounterSample[]; entries?: number } {
  return parseStatTable(text, 'nf_conntrack', 'nf_conntrack');
}

/**
 * The /proc/net/stat/* layout (nf_conntrack, arp_cache, ndisc_cache): a
 * header of names, one hex row per CPU; `entries` is a size, the rest counts.
 */
export function parseStatTable(text: string, prefix: string, source: CounterSource): { samples: CounterSample[]; entries?: number } {
  const lines = text.split('\n').filter((l) => l.trim());
  if (lines.length < 2) return { samples: [] };
  const head = lines[0].trim().split(/\s+/);
  const sums = new Map<string, number>();
  let entries: number | undefined;
  for (const l of lines.slice(1)) {
    const v = l.trim().split(/\s+/).map((h) => parseInt(h, 16));
    head.forEach((h, i) => {
      if (!Number.isFinite(v[i])) return;
      if (h === 'entries') entries ??= v[i];
      else sums.set(h, (sums.get(h) ?? 0) + v[i]);
    });
  }
  return { samples: [...sums].map(([h, value]) => ({ name: `${prefix}.${h}`, source, value })), entries };
}

// /proc/net/dev (dev_seq_printf_stats): rx "drop" = rx_dropped + rx_missed_errors,
// rx "frame" = length + over + crc + frame errors, tx "carrier" = carrier +
// aborted + window + heartbeat errors.
const DEV_RX = ['rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped', 'rx_fifo_errors', 'rx_frame_errors', 'rx_compressed', 'multicast'];
const DEV_TX = ['tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped', 'tx_fifo_errors', 'collisions', 'tx_carrier_errors', 'tx_compressed'];
const DEV_KEEP = new Set(['rx_errors', 'rx_dropped', 'rx_fifo_errors', 'rx_frame_errors', 'tx_errors', 'tx_dropped', 'tx_fifo_errors', 'tx_carrier_errors', 'rx_packets', 'tx_packets']);

export function parseNetDev(text: string): CounterSample[] {
  const out: CounterSample[] = [];
  for (const line of text.split('\n')) {
    // "  eth0: 1 2 3 ..." — names may hold any byte but ':' and whitespace.
    const m = /^\s*([^\s:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    if (v.length < 16 || v.some((x) => !Number.isFinite(x))) continue;
    [...DEV_RX, ...DEV_TX].forEach((n, i) => {
      if (DEV_KEEP.has(n)) out.push({ name: `dev.${n}`, source: 'dev', iface: m[1], value: v[i] });
    });
  }
  return out;
}

export interface QdiscInfo {
  dev: string;
  kind: string;
  handle: string;
  parent?: string;
  root: boolean;
  /** Configured limit in packets or bytes when tc -d shows one (options.limit). */
  limit?: number | string;
  options: Record<string, unknown>;
  drops: number;
  overlimits: number;
  requeues: number;
  backlog: number;
  qlen: number;
}

/** `tc -s -d -j qdisc show` → qdiscs (skipping noqueue, which counts nothing). */
export function parseQdiscs(json: unknown[]): QdiscInfo[] {
  const out: QdiscInfo[] = [];
  for (const q of json) {
    if (!q || typeof q !== 'object') continue;
    const o = q as Record<string, unknown>;
    if (typeof o.dev !== 'string' || typeof o.kind !== 'string' || o.kind === 'noqueue') continue;
    const opts = (o.options && typeof o.options === 'object' ? o.options : {}) as Record<string, unknown>;
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
    out.push({
      dev: o.dev, kind: o.kind, handle: String(o.handle ?? ''), parent: typeof o.parent === 'string' ? o.parent : undefined, root: o.root === true,
      limit: typeof opts.limit === 'number' || typeof opts.limit === 'string' ? opts.limit : undefined, options: opts,
      drops: num(o.drops), overlimits: num(o.overlimits), requeues: num(o.requeues), backlog: num(o.backlog), qlen: num(o.qlen),
    });
  }
  return out;
}

export function qdiscSamples(qs: QdiscInfo[]): CounterSample[] {
  const out: CounterSample[] = [];
  for (const q of qs) {
    const id = `${q.kind} ${q.handle}`;
    out.push({ name: 'qdisc.drops', source: 'qdisc', iface: q.dev, qdisc: id, value: q.drops });
    out.push({ name: 'qdisc.overlimits', source: 'qdisc', iface: q.dev, qdisc: id, value: q.overlimits });
    out.push({ name: 'qdisc.requeues', source: 'qdisc', iface: q.dev, qdisc: id, value: q.requeues });
  }
  return out;
}

/** Driver statistics worth watching for loss (names vary per driver). */
export const ETHTOOL_LOSS = /(drop|miss|discard|err|fifo|over|no_?buf|nobuf|fail|timeout|lost|full|busy|crc|alloc)/i;

/** `ethtool -S DEV`: "     name: value" lines, loss-related ones only. */
export function parseEthtoolStats(text: string, iface: string): CounterSample[] {
  const out: CounterSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+([^:]+):\s+(\d+)\s*$/.exec(line);
    if (m && ETHTOOL_LOSS.test(m[1])) out.push({ name: `ethtool.${m[1].trim()}`, source: 'ethtool', iface, value: Number(m[2]) });
  }
  return out;
}
