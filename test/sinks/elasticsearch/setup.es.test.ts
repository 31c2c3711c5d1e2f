// `droptrace setup elasticsearch` against the real node: idempotent, templates,
// lifecycle and data streams visible through the API, mapping as designed.
import { describe, it, expect, inject, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { setupElasticsearch } from '../../../src/sinks/elasticsearch/setup-elasticsearch.js';
import { flattenMapping, dataStreamNames, TEMPLATE_PRIORITY } from '../../../src/sinks/elasticsearch/templates.js';
import { createElasticsearchSink } from '../../../src/sinks/elasticsearch/sink.js';
import { clientFor, idsIn } from './es-node.js';
import { flowRecord, tmp } from './records.js';
import type { Client } from '@elastic/elasticsearch';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../../bin/droptrace.js');

let url: string;
let es: Client;
const ns = `setup${Date.now().toString(36)}`;

beforeAll(() => {
  url = inject('esUrl');
  es = clientFor(url);
});
afterAll(async () => {
  await es.close();
});

async function snapshot() {
  const templates = await es.transport.request<{ index_templates: Array<{ name: string; index_template: Record<string, unknown> }> }>({ method: 'GET', path: '/_index_template/*droptrace' });
  const components = await es.transport.request<{ component_templates: unknown[] }>({ method: 'GET', path: '/_component_template/droptrace@*' });
  const state = await es.transport.request<{ metadata: { data_stream: { data_stream: Record<string, { lifecycle?: unknown; indices: unknown[] }> } } }>({
    method: 'GET', path: '/_cluster/state/metadata', querystring: { filter_path: 'metadata.data_stream' },
  });
  const streams = Object.fromEntries(Object.entries(state.metadata.data_stream.data_stream).filter(([k]) => k.endsWith(`-${ns}`)));
  return { templates, components, streams };
}

describe('setup elasticsearch (real node)', () => {
  it('installs templates, lifecycle and data streams; a second run changes nothing', async () => {
    const conn = { url };
    const first = await setupElasticsearch(es, conn, { namespace: ns, retention: '30d' });
    expect(first.dataStreams.map((d) => d.state)).toEqual(['created', 'created', 'created', 'created', 'created', 'created']);
    const a = await snapshot();
    const second = await setupElasticsearch(es, conn, { namespace: ns, retention: '30d' });
    expect(second.dataStreams.map((d) => d.state)).toEqual(['existing', 'existing', 'existing', 'existing', 'existing', 'existing']);
    const b = await snapshot();
    expect(b).toEqual(a);

    expect(Object.keys(a.streams).sort()).toEqual(dataStreamNames(ns).sort());
    for (const s of Object.values(a.streams)) {
      expect(s.lifecycle).toEqual({ enabled: true, data_retention: '30d' });
      expect(s.indices).toHaveLength(1);
    }
    const byName = Object.fromEntries(a.templates.index_templates.map((t) => [t.name, t.index_template]));
    expect(Object.keys(byName).sort()).toEqual(['logs-droptrace', 'metrics-droptrace']);
    for (const t of Object.values(byName)) {
      // Above the built-in logs-*-* / metrics-*-* (priority 100).
      expect(t.priority).toBe(TEMPLATE_PRIORITY);
      expect(t.priority as number).toBeGreaterThan(100);
      expect(t.data_stream).toBeDefined();
      expect((t.template as { lifecycle: unknown }).lifecycle).toEqual({ enabled: true, data_retention: '30d' });
    }
    expect(byName['logs-droptrace'].index_patterns).toEqual(['logs-droptrace.*-*']);
  });

  it('the CLI does the same and exits 0 twice; bad URLs are usage errors', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await run(process.execPath, [BIN, 'setup', 'elasticsearch', '--es-url', url, '--namespace', ns, '--json']);
      const out = JSON.parse(r.stdout.trim());
      expect(out.dataStreams.map((d: { state: string }) => d.state)).toEqual(['existing', 'existing', 'existing', 'existing', 'existing', 'existing']);
    }
    const bad = await run(process.execPath, [BIN, 'setup', 'elasticsearch', '--es-url', 'http://u:p@127.0.0.1:1']).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must not carry credentials/);
  });

  it('maps what the sink writes with the designed types', async () => {
    const spoolDir = tmp();
    const sink = await createElasticsearchSink({ url, namespace: ns, spoolDir, batchSize: 10, flushIntervalMs: 100 });
    const run_ = `map${Date.now()}`;
    for (let i = 0; i < 5; i++) sink.write(flowRecord(i, { run: run_ }));
    await sink.close();
    expect(sink.stats()).toMatchObject({ acked: 5 });
    expect(await idsIn(es, `metrics-droptrace.flows-${ns}`, run_)).toHaveLength(5);

    const m = await es.transport.request<Record<string, { mappings: { properties: Record<string, unknown> } }>>({ method: 'GET', path: `/metrics-droptrace.flows-${ns}/_mapping` });
    const flat = flattenMapping(Object.values(m)[0].mappings);
    expect(flat).toMatchObject({
      '@timestamp': 'date', 'event.start': 'date', 'event.end': 'date', 'event.reason': 'keyword', 'event.action': 'keyword',
      'source.ip': 'ip', 'destination.ip': 'ip', 'source.port': 'long', 'network.direction': 'keyword',
      'droptrace.count': 'long', 'droptrace.bytes': 'long', 'droptrace.drop.location.symbol': 'keyword',
      'droptrace.window.start_ns': 'keyword', 'droptrace.flow.id': 'keyword', 'host.name': 'keyword',
    });
    expect(['constant_keyword', 'keyword']).toContain(flat['data_stream.dataset']);
  });

  it('maps a droptrace field added later through the dynamic templates', async () => {
    const spoolDir = tmp();
    const sink = await createElasticsearchSink({ url, namespace: ns, spoolDir, batchSize: 10, flushIntervalMs: 100 });
    const r = flowRecord(0, { run: `dyn${Date.now()}` });
    Object.assign(r.droptrace, { future_counter: 7, future_name: 'x', coverage: { retransmits: { counter: 'RetransSegs', kernel: 10, traced: 9, ratio: 0.9 } } });
    sink.write(r);
    await sink.close();
    expect(sink.stats()).toMatchObject({ acked: 1, dead_lettered: 0 });
    const m = await es.transport.request<Record<string, { mappings: { properties: Record<string, unknown> } }>>({ method: 'GET', path: `/metrics-droptrace.flows-${ns}/_mapping` });
    const flat = flattenMapping(Object.values(m)[0].mappings);
    expect(flat['droptrace.future_counter']).toBe('long');
    expect(flat['droptrace.future_name']).toBe('keyword');
    expect(flat['droptrace.coverage.retransmits.ratio']).toBe('double');
    expect(flat['droptrace.coverage.retransmits.counter']).toBe('keyword');
  });
});
