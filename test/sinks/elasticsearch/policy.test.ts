import { describe, it, expect } from 'vitest';
import { itemOutcome, requestOutcome } from '../../../src/sinks/elasticsearch/item-policy.js';
import { backoffDelay } from '../../../src/sinks/elasticsearch/backoff.js';
import { dataStreamOf, dataStreamName, toBulkItem, bulkLines } from '../../../src/sinks/elasticsearch/routing.js';
import { flowRecord } from './records.js';

describe('item policy', () => {
  it('maps statuses to outcomes', () => {
    expect([200, 201, 409, 429, 500, 503, 400, 404].map(itemOutcome)).toEqual(['acked', 'acked', 'duplicate', 'retry', 'retry', 'retry', 'dead-letter', 'dead-letter']);
    expect([200, 413, 429, 502, 401, 400].map(requestOutcome)).toEqual(['items', 'split', 'retry', 'retry', 'retry', 'dead-letter']);
  });

  it('backs off 1 s → 60 s with jitter in the upper half', () => {
    const lo = (a: number) => backoffDelay(a, { random: () => 0 });
    const hi = (a: number) => backoffDelay(a, { random: () => 1 });
    expect([0, 1, 2, 5, 6, 20].map(hi)).toEqual([1000, 2000, 4000, 32000, 60000, 60000]);
    expect([0, 6].map(lo)).toEqual([500, 30000]);
  });
});

describe('data stream routing', () => {
  it('routes each dataset to its stream', () => {
    expect(dataStreamName(dataStreamOf('droptrace.drops', 'default'))).toBe('logs-droptrace.drops-default');
    expect(dataStreamName(dataStreamOf('droptrace.retransmits', 'ns1'))).toBe('logs-droptrace.retransmits-ns1');
    expect(dataStreamName(dataStreamOf('droptrace.flows', 'default'))).toBe('metrics-droptrace.flows-default');
    expect(dataStreamName(dataStreamOf('droptrace.stats', 'default'))).toBe('metrics-droptrace.stats-default');
    expect(dataStreamName(dataStreamOf('Weird-Set', 'default'))).toBe('logs-droptrace.weird_set-default');
  });

  it('builds a create item with the record id and data_stream fields, without touching the record', () => {
    const r = flowRecord(7);
    const it = toBulkItem(r, 'default');
    expect(it).toMatchObject({ index: 'metrics-droptrace.flows-default', id: 'r-flow-7' });
    expect(JSON.parse(it.body).data_stream).toEqual({ type: 'metrics', dataset: 'droptrace.flows', namespace: 'default' });
    expect((r as unknown as Record<string, unknown>).data_stream).toBeUndefined();
    expect(bulkLines([it])).toBe(`{"create":{"_index":"metrics-droptrace.flows-default","_id":"r-flow-7"}}\n${it.body}\n`);
  });

  it('gives a record without an id a deterministic content id', () => {
    const r = flowRecord(1);
    delete r.droptrace.id;
    const a = toBulkItem(r, 'default');
    expect(a.id).toMatch(/^sha1-/);
    expect(toBulkItem(structuredClone(r), 'default').id).toBe(a.id);
  });
});
