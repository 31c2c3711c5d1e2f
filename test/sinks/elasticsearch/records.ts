// Record generators and small utilities shared by the Elasticsearch sink tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EcsRecord } from '../../../src/record/ecs.js';
import type { BulkHttpResult, BulkTransport, ItemStatus } from '../../../src/sinks/elasticsearch/bulk-sender.js';

export function tmp(prefix = 'dt-es-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const REASONS = ['NETFILTER_DROP', 'NO_SOCKET', 'TCP_INVALID_SEQUENCE'];
const DIRECTIONS = ['ingress', 'egress'] as const;

/** A flow record like the aggregator's (event.dataset droptrace.flows). */
export function flowRecord(i: number, opts: { run?: string; at?: number } = {}): EcsRecord {
  const start = new Date((opts.at ?? Date.UTC(2026, 0, 1)) + Math.floor(i / 10) * 10_000);
  const end = new Date(start.getTime() + 10_000);
  return {
    '@timestamp': start.toISOString(),
    event: { kind: 'metric', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.flows', reason: REASONS[i % 3], start: start.toISOString(), end: end.toISOString() },
    network: { type: 'ipv4', transport: 'udp', iana_number: '17', direction: DIRECTIONS[i % 2] },
    source: { ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 40000 + (i % 1000) },
    destination: { ip: '10.9.0.1', port: 5000 + (i % 7) },
    host: { name: 'testhost' },
    observer: { ingress: { interface: { id: '3', name: 'veth0' } } },
    droptrace: {
      id: `${opts.run ?? 'r'}-flow-${i}`,
      count: 1 + (i % 5),
      bytes: 100 * (1 + (i % 5)),
      drop: { reason_code: 12, location: { address: '0xffffffffc0a015a0', symbol: 'nft_do_chain', offset: 420, module: 'nf_tables' } },
      netns: { inode: 4026532301 },
      path: 'local-in',
      flow: { id: `f${i % 50}` },
      window: { interval_s: 10, start_ns: String(1_000_000_000 + i) },
    },
  };
}

/**
 * An in-memory "cluster" behind the BulkTransport interface, for unit tests
 * of the sink's policy (the es project tests use a real Elasticsearch).
 * `plan` decides, per request, what happens; default: store with create semantics.
 */
export class FakeCluster implements BulkTransport {
  readonly docs = new Map<string, string>();
  requests = 0;
  down = false;
  /** Per-item override: return a status for an item instead of storing it. */
  itemStatus: (id: string, doc: Record<string, unknown>) => ItemStatus | undefined = () => undefined;
  /** Request-level override (e.g. 413 when too many items). */
  requestStatus: (count: number) => number | undefined = () => undefined;
  readonly order: string[] = [];

  async bulk(body: string): Promise<BulkHttpResult> {
    this.requests++;
    if (this.down) return { kind: 'unreachable', reason: 'connect ECONNREFUSED 127.0.0.1:1' };
    const lines = body.split('\n').filter(Boolean);
    const n = lines.length / 2;
    const rs = this.requestStatus(n);
    if (rs) return { kind: 'http-error', status: rs, reason: `fake ${rs}` };
    const items: ItemStatus[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const h = JSON.parse(lines[i]).create as { _index: string; _id: string };
      const doc = JSON.parse(lines[i + 1]) as Record<string, unknown>;
      const over = this.itemStatus(h._id, doc);
      if (over) {
        items.push(over);
        continue;
      }
      const key = `${h._index}/${h._id}`;
      if (this.docs.has(key)) items.push({ status: 409, error: { type: 'version_conflict_engine_exception', reason: 'exists' } });
      else {
        this.docs.set(key, lines[i + 1]);
        this.order.push(h._id);
        items.push({ status: 201 });
      }
    }
    return { kind: 'response', status: 200, items };
  }
}

export async function until(cond: () => boolean, ms = 10_000, step = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, step));
  }
}

/** The sink's accounting identity; returns the two sides. */
export function balance(s: Record<string, number>): [number, number] {
  return [s.received + s.replayed_in, s.acked + s.duplicate + s.dead_lettered + s.dead_letter_failed + s.dropped_by_policy + s.spool_corrupt + s.pending + s.spooled];
}
