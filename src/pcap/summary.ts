// The human summary of `droptrace pcap`: one row per flow (data direction),
// computed from the flow records themselves (like `top`), so it can never
// disagree with what went to files or Elasticsearch. Bounded: beyond
// maxFlows distinct flows the rest are summed into one "other flows" row.
import type { EcsRecord } from '../record/ecs.js';
import { escapeForTerminal } from '../sinks/terminal/escape.js';

const COLUMNS = [
  ['RETX', 'tcp-retransmit'],
  ['FAST', 'tcp-fast-retransmit'],
  ['SPUR', 'tcp-spurious-retransmit'],
  ['OOO', 'tcp-out-of-order'],
  ['LOST', 'tcp-lost-segment'],
  ['DUPACK', 'tcp-dup-ack'],
  ['ZWIN', 'tcp-zero-window'],
  ['KALIVE', 'tcp-keep-alive'],
  ['DSACK', 'tcp-dsack'],
] as const;
const LOSS = new Set(['tcp-retransmit', 'tcp-fast-retransmit', 'tcp-out-of-order', 'tcp-lost-segment']);

interface Row {
  flow: string;
  counts: Record<string, number>;
  packets: number;
  windows: Set<string>;
  up: number;
  down: number;
  rtt?: number;
}

export class PcapSummary {
  private readonly rows = new Map<string, Row>();
  private readonly other: Row = { flow: '', counts: {}, packets: 0, windows: new Set(), up: 0, down: 0 };
  private otherFlows = new Set<string>();

  constructor(private readonly maxFlows = 10_000) {}

  add(r: EcsRecord): void {
    if (r.event.dataset !== 'droptrace.flows') return;
    const dt = r.droptrace as { count?: number; flow?: { id: string }; pcap?: { packets?: number; loss_side?: string }; tcp?: { rtt_ms?: { avg: number } } };
    const id = dt.flow?.id;
    let row = id ? this.rows.get(id) : undefined;
    if (!row) {
      if (id && this.rows.size < this.maxFlows) {
        const ep = (e?: { ip?: string; port?: number }) => (e?.ip?.includes(':') ? `[${e.ip}]:${e.port}` : `${e?.ip}:${e?.port}`);
        row = { flow: `${ep(r.source)} → ${ep(r.destination)}`, counts: {}, packets: 0, windows: new Set(), up: 0, down: 0 };
        this.rows.set(id, row);
      } else {
        row = this.other;
        this.otherFlows.add(id ?? 'overflow');
      }
    }
    const n = dt.count ?? 0;
    row.counts[r.event.action] = (row.counts[r.event.action] ?? 0) + n;
    // Records of one flow and window share its packet count: count it once.
    const w = `${id}|${r.event.start}|${r.file?.path}`;
    if (!row.windows.has(w)) {
      row.windows.add(w);
      row.packets += dt.pcap?.packets ?? 0;
    }
    if (LOSS.has(r.event.action)) {
      if (dt.pcap?.loss_side === 'upstream') row.up += n;
      if (dt.pcap?.loss_side === 'downstream') row.down += n;
    }
    if (dt.tcp?.rtt_ms) row.rtt = dt.tcp.rtt_ms.avg;
  }

  get flows(): number {
    return this.rows.size;
  }

  /** The table, top `limit` flows by loss. */
  render(limit = 25): string {
    const loss = (r: Row) => [...LOSS].reduce((s, a) => s + (r.counts[a] ?? 0), 0);
    const rows = [...this.rows.values()].sort((a, b) => loss(b) - loss(a) || b.packets - a.packets);
    const shown = rows.slice(0, limit);
    const head = ['FLOW (data: source → destination)', 'PKTS', ...COLUMNS.map((c) => c[0]), 'LOSS SIDE up/down', 'RTT ms'];
    const line = (r: Row) => [
      escapeForTerminal(r.flow), String(r.packets), ...COLUMNS.map(([, a]) => String(r.counts[a] ?? 0)), `${r.up}/${r.down}`, r.rtt !== undefined ? r.rtt.toFixed(2) : '-',
    ];
    const body = shown.map(line);
    const restRows = rows.slice(limit);
    if (restRows.length || this.otherFlows.size) {
      const o: Row = { flow: `(${restRows.length + this.otherFlows.size} more flows)`, counts: { ...this.other.counts }, packets: this.other.packets, windows: new Set(), up: this.other.up, down: this.other.down };
      for (const r of restRows) {
        for (const [k, v] of Object.entries(r.counts)) o.counts[k] = (o.counts[k] ?? 0) + v;
        o.packets += r.packets;
        o.up += r.up;
        o.down += r.down;
      }
      body.push(line(o));
    }
    if (body.length === 0) return 'no TCP anomalies in the analysed packets\n';
    const all = [head, ...body];
    const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
    return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')).join('\n') + '\n';
  }
}
