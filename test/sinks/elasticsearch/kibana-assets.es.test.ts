// The Kibana assets against the real mapping and real data: every field they
// use is mapped with an aggregatable type, and each panel's aggregation (its
// Lens layers translated to the equivalent ES query) over seeded records
// returns the buckets computed independently from the seed.
import { describe, it, expect, inject, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import type { EcsRecord } from '../../../src/record/ecs.js';
import { createElasticsearchSink } from '../../../src/sinks/elasticsearch/sink.js';
import { setupElasticsearch } from '../../../src/sinks/elasticsearch/setup-elasticsearch.js';
import { clientFor } from './es-node.js';
import { tmp } from './records.js';

const ASSETS = resolve(import.meta.dirname, '../../../deploy/kibana/droptrace.ndjson');
const AGGREGATABLE = new Set(['keyword', 'constant_keyword', 'ip', 'long', 'integer', 'double', 'float', 'date', 'boolean']);

interface SavedObject {
  id: string;
  type: string;
  attributes: Record<string, any>;
  references: Array<{ id: string; name: string; type: string }>;
}
const objects: SavedObject[] = readFileSync(ASSETS, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const byId = new Map(objects.map((o) => [o.id, o]));

let es: Client;
const ns = `kib${Date.now().toString(36)}`;
const T0 = Date.UTC(2026, 1, 1, 12, 0, 0);

/** The data view's pattern, restricted to this test's namespace. */
function indexFor(dataViewId: string): string {
  const title = byId.get(dataViewId)!.attributes.title as string; // e.g. logs-droptrace.*  metrics-droptrace.flows-*
  return title.endsWith('-*') ? title.replace(/\*$/, ns) : `${title}-${ns}`;
}

// --- a tiny KQL subset → ES query (the assets use only these forms) ------------
export function kqlToEs(kql: string): Record<string, unknown> {
  if (!kql.trim()) return { match_all: {} };
  const clauses = kql.split(/\s+and\s+/);
  return {
    bool: {
      filter: clauses.map((c) => {
        const m = /^\s*([\w.@]+)\s*:\s*(.+?)\s*$/.exec(c);
        if (!m) throw new Error(`unsupported KQL: ${c}`);
        const [, field, value] = m;
        const or = /^\((.+)\)$/.exec(value);
        if (or) return { terms: { [field]: or[1].split(/\s+or\s+/).map((v) => JSON.parse(v)) } };
        if (/^"[^"]*"$/.test(value)) return { term: { [field]: JSON.parse(value) } };
        if (/^[\w.-]+\*$/.test(value)) return { prefix: { [field]: value.slice(0, -1) } };
        throw new Error(`unsupported KQL value: ${value}`);
      }),
    },
  };
}

function kqlFields(kql: string): string[] {
  return [...kql.matchAll(/([\w.@]+)\s*:/g)].map((m) => m[1]);
}

// --- fields used by the assets, per data view ------------------------------------
function fieldsUsed(): Array<{ dataView: string; field: string; needsAgg: boolean; where: string }> {
  const out: Array<{ dataView: string; field: string; needsAgg: boolean; where: string }> = [];
  for (const o of objects) {
    if (o.type === 'lens') {
      for (const [layerId, layer] of Object.entries<any>(o.attributes.state.datasourceStates.formBased.layers)) {
        const dv = o.references.find((r) => r.name === `indexpattern-datasource-layer-${layerId}`)!.id;
        for (const col of Object.values<any>(layer.columns)) {
          for (const f of [col.sourceField, ...(col.params?.secondaryFields ?? [])]) if (f && f !== '___records___') out.push({ dataView: dv, field: f, needsAgg: true, where: o.id });
          if (col.filter) for (const f of kqlFields(col.filter.query)) out.push({ dataView: dv, field: f, needsAgg: true, where: `${o.id} filter` });
        }
      }
    }
    if (o.type === 'search') {
      const dv = o.references[0].id;
      const src = JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON);
      for (const f of kqlFields(src.query.query)) out.push({ dataView: dv, field: f, needsAgg: true, where: `${o.id} query` });
      for (const f of o.attributes.columns as string[]) out.push({ dataView: dv, field: f, needsAgg: false, where: `${o.id} column` });
      for (const [f] of o.attributes.sort as string[][]) out.push({ dataView: dv, field: f, needsAgg: true, where: `${o.id} sort` });
    }
  }
  return out;
}

// --- seed ---------------------------------------------------------------------------
const REASONS = ['NETFILTER_DROP', 'NO_SOCKET', 'TCP_INVALID_SEQUENCE', 'SOCKET_RCVBUFF'];
const SYMBOLS = ['nft_do_chain', '__udp4_lib_rcv', 'tcp_v4_rcv', 'ip_forward'];
const seed: EcsRecord[] = [];
const base = (ts: number, dataset: EcsRecord['event']['dataset'], action: EcsRecord['event']['action'], kind: 'event' | 'metric'): EcsRecord => ({
  '@timestamp': new Date(ts).toISOString(),
  event: { kind, category: ['network'], action, dataset },
  host: { name: 'seedhost' },
  droptrace: {},
});

function buildSeed(): void {
  let n = 0;
  const id = () => `${ns}-${n++}`;
  // Flow records: 3 windows × 40 flows; drops and retransmits.
  for (let w = 0; w < 3; w++) {
    const start = T0 + w * 60_000;
    for (let f = 0; f < 40; f++) {
      const dropped = f % 5 !== 4;
      const r = base(start, 'droptrace.flows', dropped ? 'packet-dropped' : 'tcp-retransmit', 'metric');
      r.event.start = r['@timestamp'];
      r.event.end = new Date(start + 60_000).toISOString();
      r.event.reason = dropped ? REASONS[(f + w) % REASONS.length] : 'rto';
      r.network = { type: 'ipv4', transport: f % 3 ? 'udp' : 'tcp', iana_number: f % 3 ? '17' : '6', direction: f % 4 === 0 ? 'egress' : 'ingress' };
      r.source = { ip: `10.1.0.${f}`, port: 1000 + f };
      r.destination = { ip: `10.2.0.${f % 7}`, port: 80 + (f % 3) };
      r.droptrace = {
        id: id(), count: 1 + ((f * 7 + w * 3) % 23), bytes: 100 * (1 + f), path: 'local-in',
        ...(dropped ? { drop: { reason_code: 2, location: { address: '0xffffffff81000000', symbol: SYMBOLS[f % SYMBOLS.length], offset: f } } } : {}),
        flow: { id: `flow${f}` }, window: { interval_s: 60, start_ns: String(BigInt(start) * 1_000_000n) },
      };
      seed.push(r);
    }
  }
  // Per-event records for the saved searches.
  for (let i = 0; i < 12; i++) {
    const r = base(T0 + i * 1000, 'droptrace.drops', 'packet-dropped', 'event');
    r.event.reason = REASONS[i % 4];
    r.network = { type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' };
    r.source = { ip: '10.3.0.1', port: 5000 + i };
    r.destination = { ip: '10.3.0.2', port: 53 };
    r.droptrace = { id: id(), drop: { reason_code: 2, location: { address: '0x1', symbol: 'nft_do_chain', offset: 1 } }, path: 'local-in' };
    seed.push(r);
  }
  for (let i = 0; i < 7; i++) {
    const r = base(T0 + i * 1000, 'droptrace.retransmits', i % 3 ? 'tcp-retransmit' : 'tcp-loss-probe', 'event');
    r.droptrace = { id: id(), retransmit: { type: i % 3 ? 'rto' : 'tlp' }, tcp: { state: 'ESTABLISHED' }, path: 'local-out' };
    seed.push(r);
  }
  for (let i = 0; i < 5; i++) {
    const r = base(T0 + i * 1000, 'droptrace.retransmits', i % 2 ? 'tcp-incoming-retransmit' : 'tcp-incoming-out-of-order', 'event');
    r.droptrace = { id: id(), incoming: { seq: 1000 + i, rcv_nxt: 900 }, path: 'local-in' };
    seed.push(r);
  }
  // Tracer losses: events-lost records and self-stats with a cumulative suppressed count.
  for (let i = 0; i < 6; i++) {
    const r = base(T0 + i * 30_000, 'droptrace.drops', 'events-lost', 'metric');
    r.droptrace = { id: id(), lost: { count: 10 * (i + 1) } };
    seed.push(r);
    const s = base(T0 + i * 30_000 + 5000, 'droptrace.stats', 'self-stats', 'metric');
    s.droptrace = { id: id(), stats: { final: false, suppressed: 100 * (i + 1), lost: 0, events_in: 5 } };
    seed.push(s);
  }
}

beforeAll(async () => {
  const url = inject('esUrl');
  es = clientFor(url);
  await setupElasticsearch(es, { url }, { namespace: ns, retention: '30d' });
  buildSeed();
  const sink = await createElasticsearchSink({ url, namespace: ns, spoolDir: tmp(), batchSize: 500 });
  for (const r of seed) sink.write(r);
  await sink.close();
  expect(sink.stats()).toMatchObject({ acked: seed.length, dead_lettered: 0 });
  await es.indices.refresh({ index: `*-droptrace.*-${ns}` });
});
afterAll(async () => {
  await es?.close();
});

// --- Lens → ES ----------------------------------------------------------------------
const FIXED_INTERVAL = '60s';

function layerSearch(layer: any): { aggs: Record<string, unknown>; bucketIds: string[]; metricIds: string[] } {
  const cols: Record<string, any> = layer.columns;
  const bucketIds = layer.columnOrder.filter((c: string) => cols[c].isBucketed);
  const metricIds = layer.columnOrder.filter((c: string) => !cols[c].isBucketed);
  const metricAggs: Record<string, unknown> = {};
  for (const id of metricIds) {
    const c = cols[id];
    const inner = { [c.operationType]: { field: c.sourceField } };
    metricAggs[id] = c.filter ? { filter: kqlToEs(c.filter.query), aggs: { v: inner } } : inner;
  }
  const orderPath = (id: string) => (cols[id].filter ? `${id}>v` : id);
  let aggs: Record<string, unknown> = metricAggs;
  for (const id of [...bucketIds].reverse()) {
    const c = cols[id];
    let agg: Record<string, unknown>;
    if (c.operationType === 'date_histogram') agg = { date_histogram: { field: c.sourceField, fixed_interval: FIXED_INTERVAL, min_doc_count: 1 } };
    else if (c.params.secondaryFields) {
      agg = { multi_terms: { terms: [c.sourceField, ...c.params.secondaryFields].map((field: string) => ({ field })), size: c.params.size, order: { [orderPath(c.params.orderBy.columnId)]: 'desc' } } };
    } else agg = { terms: { field: c.sourceField, size: c.params.size, order: { [orderPath(c.params.orderBy.columnId)]: 'desc' } } };
    aggs = { [id]: { ...agg, aggs } };
  }
  return { aggs, bucketIds, metricIds };
}

/** Flatten ES buckets to rows: { bucketKeys..., metric values } (metric null = no matching docs). */
function rows(aggResult: any, bucketIds: string[], metricIds: string[], prefix: string[] = []): Array<{ key: string; values: Record<string, number | null> }> {
  if (bucketIds.length === 0) {
    const values: Record<string, number | null> = {};
    for (const id of metricIds) values[id] = (aggResult[id].v ?? aggResult[id]).value;
    return [{ key: prefix.join('|'), values }];
  }
  const [first, ...rest] = bucketIds;
  return aggResult[first].buckets.flatMap((b: any) => rows(b, rest, metricIds, [...prefix, b.key_as_string ?? (Array.isArray(b.key) ? b.key.join(',') : String(b.key))]));
}

async function runLens(id: string): Promise<Record<string, Array<{ key: string; values: Record<string, number | null> }>>> {
  const o = byId.get(id)!;
  const out: Record<string, Array<{ key: string; values: Record<string, number | null> }>> = {};
  for (const [layerId, layer] of Object.entries<any>(o.attributes.state.datasourceStates.formBased.layers)) {
    const dv = o.references.find((r) => r.name === `indexpattern-datasource-layer-${layerId}`)!.id;
    const { aggs, bucketIds, metricIds } = layerSearch(layer);
    const query = kqlToEs(o.attributes.state.query.query) as any;
    try {
      const r = await es.search({ index: indexFor(dv), size: 0, aggs: aggs as any, query });
      out[layerId] = rows(r.aggregations, bucketIds, metricIds);
    } catch (e) {
      if (!/Unknown aggregation type \[multi_terms\]/.test(String((e as any)?.meta?.body?.error?.reason ?? e))) throw e;
      out[layerId] = await multiTermsViaComposite(dv, layer, query);
    }
  }
  return out;
}

/**
 * multi_terms lives in the analytics plugin, which the integ-test distribution
 * lacks. The same numbers via a composite aggregation over all flows (sums per
 * flow in ES), top N by the metric picked here.
 */
async function multiTermsViaComposite(dv: string, layer: any, query: unknown): Promise<Array<{ key: string; values: Record<string, number | null> }>> {
  const cols: Record<string, any> = layer.columns;
  const bucket = layer.columnOrder.map((c: string) => cols[c]).find((c: any) => c.isBucketed);
  const metricIds: string[] = layer.columnOrder.filter((c: string) => !cols[c].isBucketed);
  const fields: string[] = [bucket.sourceField, ...bucket.params.secondaryFields];
  const all: Array<{ key: string; values: Record<string, number | null> }> = [];
  let after: Record<string, unknown> | undefined;
  do {
    const r: any = await es.search({
      index: indexFor(dv), size: 0, query: query as any,
      aggs: { flows: { composite: { size: 1000, sources: fields.map((f, i) => ({ [`k${i}`]: { terms: { field: f } } })), ...(after ? { after } : {}) }, aggs: Object.fromEntries(metricIds.map((id) => [id, { [cols[id].operationType]: { field: cols[id].sourceField } }])) } } as any,
    });
    for (const b of r.aggregations.flows.buckets) all.push({ key: fields.map((_, i) => String(b.key[`k${i}`])).join(','), values: Object.fromEntries(metricIds.map((id) => [id, b[id].value])) });
    after = r.aggregations.flows.after_key;
  } while (after);
  const order = bucket.params.orderBy.columnId;
  return all.sort((a, b) => (b.values[order] ?? 0) - (a.values[order] ?? 0) || (a.key < b.key ? -1 : 1)).slice(0, bucket.params.size);
}

// Expected values straight from the seed.
const flows = () => seed.filter((r) => r.event.dataset === 'droptrace.flows');
const cnt = (r: EcsRecord) => r.droptrace.count as number;
const sumBy = (rs: EcsRecord[], key: (r: EcsRecord) => string) => {
  const m = new Map<string, number>();
  for (const r of rs) m.set(key(r), (m.get(key(r)) ?? 0) + cnt(r));
  return m;
};
const bucketTime = (iso: string, ms = 60_000) => new Date(Math.floor(Date.parse(iso) / ms) * ms).toISOString();
const asMap = (rs: Array<{ key: string; values: Record<string, number | null> }>, metric: string) =>
  new Map(rs.filter((r) => r.values[metric] !== null && r.values[metric] !== 0).map((r) => [r.key, r.values[metric]]));

describe('Kibana assets vs the real mapping and data', () => {
  it('the NDJSON is importable-shaped: unique fixed ids, 8.x migration versions, references resolve', () => {
    expect(new Set(objects.map((o) => o.id)).size).toBe(objects.length);
    for (const o of objects) {
      expect(o.id).toMatch(/^droptrace-/);
      expect((o as any).coreMigrationVersion).toMatch(/^8\./);
      expect((o as any).typeMigrationVersion).toMatch(/^\d+\.\d+\.\d+$/);
      for (const ref of o.references) expect(byId.get(ref.id)?.type, `${o.id} → ${ref.id}`).toBe(ref.type);
    }
    const dash = byId.get('droptrace-dashboard')!;
    const panels = JSON.parse(dash.attributes.panelsJSON);
    expect(panels).toHaveLength(dash.references.length);
    for (const p of panels) expect(dash.references.some((r) => r.name === `${p.panelIndex}:${p.panelRefName}`)).toBe(true);
    expect(objects.filter((o) => o.type === 'lens')).toHaveLength(5);
    expect(objects.filter((o) => o.type === 'search')).toHaveLength(3);
  });

  it('every field the assets use is mapped, aggregatable where a panel aggregates or filters on it', async () => {
    const used = fieldsUsed();
    expect(used.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const u of used) {
      const r = await es.indices.getFieldMapping({ index: indexFor(u.dataView), fields: [u.field] });
      const types = new Set<string>();
      for (const idx of Object.values<any>(r)) {
        const m = idx.mappings[u.field];
        if (m) types.add(Object.values<any>(m.mapping)[0].type);
      }
      if (types.size === 0) problems.push(`${u.field} (${u.where}) is not mapped in ${indexFor(u.dataView)}`);
      else if (types.size > 1) problems.push(`${u.field} (${u.where}) has conflicting types ${[...types]}`);
      else if (u.needsAgg && !AGGREGATABLE.has([...types][0])) problems.push(`${u.field} (${u.where}) is ${[...types][0]}, not aggregatable`);
    }
    expect(problems).toEqual([]);
  });

  it('drops over time by reason: sum of droptrace.count of dropped-packet flows per window and reason', async () => {
    const got = await runLens('droptrace-lens-drops-over-time');
    const dropped = flows().filter((r) => r.event.action === 'packet-dropped');
    const want = sumBy(dropped, (r) => `${bucketTime(r['@timestamp'])}|${r.event.reason}`);
    expect(asMap(got.l1, 'count')).toEqual(want);
  });

  it('top flows by loss: the 20 flows with the largest summed count, in order', async () => {
    const got = (await runLens('droptrace-lens-top-flows')).l1;
    const totals = sumBy(flows(), (r) => [r.source!.ip, r.source!.port, r.destination!.ip, r.destination!.port, r.network!.transport].join(','));
    const want = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
    expect(got).toHaveLength(20);
    expect(got.map((r) => r.values.count)).toEqual(want.map(([, v]) => v));
    // Every returned flow carries its exact total.
    for (const r of got) expect(r.values.count).toBe(totals.get(r.key));
  });

  it('loss by direction: sum per network.direction', async () => {
    const got = await runLens('droptrace-lens-loss-by-direction');
    expect(asMap(got.l1, 'count')).toEqual(sumBy(flows(), (r) => r.network!.direction!));
  });

  it('top drop locations: sum per droptrace.drop.location.symbol of dropped packets', async () => {
    const got = await runLens('droptrace-lens-top-locations');
    const dropped = flows().filter((r) => r.event.action === 'packet-dropped');
    const want = sumBy(dropped, (r) => (r.droptrace.drop as any).location.symbol);
    expect(asMap(got.l1, 'count')).toEqual(want);
    expect(got.l1.map((r) => r.key)[0]).toBe([...want.entries()].sort((a, b) => b[1] - a[1])[0][0]);
  });

  it('lost and suppressed events: lost summed and suppressed maxed per interval', async () => {
    const got = await runLens('droptrace-lens-lost-suppressed');
    const lost = new Map<string, number>();
    const sup = new Map<string, number>();
    for (const r of seed) {
      if (r.event.action === 'events-lost') lost.set(bucketTime(r['@timestamp']), (lost.get(bucketTime(r['@timestamp'])) ?? 0) + (r.droptrace.lost as any).count);
      if (r.event.action === 'self-stats') sup.set(bucketTime(r['@timestamp']), Math.max(sup.get(bucketTime(r['@timestamp'])) ?? 0, (r.droptrace.stats as any).suppressed));
    }
    expect(asMap(got.lost, 'lost')).toEqual(lost);
    expect(asMap(got.suppressed, 'suppressed')).toEqual(sup);
  });

  it('saved searches find exactly their records', async () => {
    const expectHits = async (id: string, want: number) => {
      const o = byId.get(id)!;
      const q = JSON.parse(o.attributes.kibanaSavedObjectMeta.searchSourceJSON).query.query;
      const r = await es.count({ index: indexFor(o.references[0].id), query: kqlToEs(q) as any });
      expect(r.count, id).toBe(want);
    };
    await expectHits('droptrace-search-drops-by-reason', seed.filter((r) => r.event.dataset === 'droptrace.drops' && r.event.action === 'packet-dropped').length);
    await expectHits('droptrace-search-retransmits', 7);
    await expectHits('droptrace-search-incoming-loss', 5);
  });
});
