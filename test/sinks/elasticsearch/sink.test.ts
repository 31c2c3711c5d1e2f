// The sink's policy against an in-memory cluster (FakeCluster); the same
// faults against a real Elasticsearch are in *.es.test.ts.
import { describe, it, expect } from 'vitest';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createElasticsearchSink, ElasticsearchSink, type ElasticsearchSinkOptions } from '../../../src/sinks/elasticsearch/sink.js';
import { FakeCluster, flowRecord, tmp, until, balance } from './records.js';

const FAST = { initialMs: 5, maxMs: 20 };

function opts(cluster: FakeCluster, extra: Partial<ElasticsearchSinkOptions> = {}): ElasticsearchSinkOptions {
  return { url: 'http://fake', transport: cluster, spoolDir: tmp(), batchSize: 10, flushIntervalMs: 50, queueMax: 50, backoff: FAST, closeGraceMs: 500, ...extra };
}

describe('Elasticsearch sink (policy, in-memory cluster)', () => {
  it('flushes on batch size without waiting for the timer', async () => {
    const c = new FakeCluster();
    const sink = await createElasticsearchSink(opts(c, { flushIntervalMs: 60_000 }));
    for (let i = 0; i < 10; i++) sink.write(flowRecord(i));
    await until(() => c.docs.size === 10, 2000);
    expect(c.requests).toBe(1);
    await sink.close();
  });

  it('flushes a partial batch on its own timer', async () => {
    const c = new FakeCluster();
    const sink = await createElasticsearchSink(opts(c, { batchSize: 1000, queueMax: 1000, flushIntervalMs: 50 }));
    for (let i = 0; i < 3; i++) sink.write(flowRecord(i));
    await until(() => c.docs.size === 3, 2000);
    expect(sink.stats()).toMatchObject({ acked: 3, pending: 0 });
    await sink.close();
  });

  it('counts 409 as duplicate, retries 429/503, dead-letters other 4xx with status and reason', async () => {
    const c = new FakeCluster();
    const flaky = new Map<string, number>();
    c.itemStatus = (id) => {
      if (id === 'r-flow-3') return { status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [source.ip]' } };
      if (id === 'r-flow-5' || id === 'r-flow-6') {
        const n = (flaky.get(id) ?? 0) + 1;
        flaky.set(id, n);
        if (n <= 2) return { status: id === 'r-flow-5' ? 429 : 503, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } };
      }
      return undefined;
    };
    const dl = join(tmp(), 'dead.ndjson');
    const sink = await createElasticsearchSink(opts(c, { deadLetterPath: dl }));
    for (let i = 0; i < 10; i++) sink.write(flowRecord(i));
    sink.write(flowRecord(1)); // a resend
    await sink.flush();
    await sink.close();
    const s = sink.stats();
    expect(s).toMatchObject({ received: 11, acked: 9, duplicate: 1, dead_lettered: 1, dropped_by_policy: 0, pending: 0, spooled: 0 });
    expect(s.retries).toBeGreaterThanOrEqual(2);
    const lines = readFileSync(dl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 400, _id: 'r-flow-3', error: { type: 'document_parsing_exception' }, document: { droptrace: { id: 'r-flow-3' } } });
    expect(balance(s)[0]).toBe(balance(s)[1]);
  });

  it('a planted dead-letter symlink: the refused record is counted as dead_letter_failed and the log says so (issue 10, row 9)', async () => {
    const c = new FakeCluster();
    c.itemStatus = (id) => (id === 'r-flow-2' ? { status: 400, error: { type: 'document_parsing_exception', reason: 'bad field' } } : undefined);
    const spoolDir = tmp();
    const victim = join(tmp(), 'victim');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, join(spoolDir, 'dead-letter.ndjson'));
    const logs: string[] = [];
    const sink = await createElasticsearchSink(opts(c, { spoolDir, log: (m) => logs.push(m) }));
    for (let i = 0; i < 5; i++) sink.write(flowRecord(i));
    await sink.flush();
    await sink.close();
    const s = sink.stats();
    expect(s).toMatchObject({ received: 5, acked: 4, dead_lettered: 0, dead_letter_failed: 1, dead_letter_write_errors: 1, pending: 0, spooled: 0 });
    expect(balance(s)[0]).toBe(balance(s)[1]);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    const text = logs.join('\n');
    expect(text).not.toMatch(/written to the dead-letter file/);
    expect(text).toMatch(/cannot write the dead-letter file .*dead-letter\.ndjson \(ELOOP: it is a symbolic link; refusing to follow it\): 1 refused records lost, counted as dead_letter_failed/);
    expect(text).toMatch(/refused .*r-flow-2 \(400 document_parsing_exception: bad field\); not written anywhere/);
    expect(text).toMatch(/1 refused and lost \(dead-letter file unwritable\)/);
  });

  it('a refused record that reaches the dead-letter file is logged as written there, with the path', async () => {
    const c = new FakeCluster();
    c.itemStatus = (id) => (id === 'r-flow-1' ? { status: 400, error: { type: 'x', reason: 'y' } } : undefined);
    const logs: string[] = [];
    const dl = join(tmp(), 'dl.ndjson');
    const sink = await createElasticsearchSink(opts(c, { deadLetterPath: dl, log: (m) => logs.push(m) }));
    for (let i = 0; i < 3; i++) sink.write(flowRecord(i));
    await sink.close();
    expect(sink.stats()).toMatchObject({ dead_lettered: 1, dead_letter_failed: 0 });
    expect(logs.join('\n')).toContain(`written to the dead-letter file ${dl}`);
    expect(readFileSync(dl, 'utf8')).toContain('r-flow-1');
  });

  it('splits a batch on 413 until it fits', async () => {
    const c = new FakeCluster();
    c.requestStatus = (n) => (n > 3 ? 413 : undefined);
    const sink = await createElasticsearchSink(opts(c));
    for (let i = 0; i < 10; i++) sink.write(flowRecord(i));
    await sink.flush();
    expect(c.docs.size).toBe(10);
    expect(sink.stats()).toMatchObject({ acked: 10, dead_lettered: 0 });
    await sink.close();
  });

  it('spills to the spool during an outage and replays in order on recovery, memory bounded', async () => {
    const c = new FakeCluster();
    c.down = true;
    const sink = await createElasticsearchSink(opts(c));
    let maxPending = 0;
    for (let i = 0; i < 500; i++) {
      sink.write(flowRecord(i));
      maxPending = Math.max(maxPending, sink.stats().pending);
    }
    await until(() => sink.stats().outage === 1, 2000);
    expect(maxPending).toBeLessThanOrEqual(50 + 10);
    expect(sink.stats().spooled).toBeGreaterThan(400);
    c.down = false;
    await until(() => c.docs.size === 500, 5000);
    expect(c.order).toEqual(Array.from({ length: 500 }, (_, i) => `r-flow-${i}`));
    await sink.close();
    const s = sink.stats();
    expect(s).toMatchObject({ acked: 500, duplicate: 0, spooled: 0, pending: 0, outage: 0 });
    expect(balance(s)[0]).toBe(balance(s)[1]);
  });

  it('close during an outage persists everything; the next instance ships it', async () => {
    const c = new FakeCluster();
    c.down = true;
    const spoolDir = tmp();
    const a = await createElasticsearchSink(opts(c, { spoolDir }));
    for (let i = 0; i < 37; i++) a.write(flowRecord(i));
    await a.close();
    expect(a.stats()).toMatchObject({ received: 37, acked: 0, pending: 0, spooled: 37 });
    c.down = false;
    const b = await createElasticsearchSink(opts(c, { spoolDir }));
    expect(b.stats().replayed_in).toBe(37);
    for (let i = 37; i < 40; i++) b.write(flowRecord(i));
    await b.flush();
    await until(() => c.docs.size === 40, 3000);
    await b.close();
    expect(c.order).toEqual(Array.from({ length: 40 }, (_, i) => `r-flow-${i}`));
    const s = b.stats();
    expect(s).toMatchObject({ received: 3, replayed_in: 37, acked: 40, spooled: 0 });
    expect(balance(s)[0]).toBe(balance(s)[1]);
  });

  it('applies the spool limit: drops the oldest segments, counted', async () => {
    const c = new FakeCluster();
    c.down = true;
    const sink = await createElasticsearchSink(opts(c, { spoolMaxBytes: 20_000, spoolSegmentBytes: 4000 }));
    for (let i = 0; i < 400; i++) sink.write(flowRecord(i));
    await sink.close();
    const s = sink.stats();
    expect(s.dropped_by_policy).toBeGreaterThan(0);
    expect(s.spool_bytes).toBeLessThanOrEqual(20_000);
    expect(s.dropped_by_policy + s.spooled).toBe(400);
    expect(balance(s)[0]).toBe(balance(s)[1]);
  });

  it('started while the cluster is unreachable: spills, keeps retrying, ships once it answers', async () => {
    const c = new FakeCluster();
    c.down = true;
    const sink = new ElasticsearchSink(opts(c), c);
    sink.start({ ok: false, reason: 'connect ECONNREFUSED' });
    for (let i = 0; i < 120; i++) sink.write(flowRecord(i));
    await until(() => c.requests > 0 && sink.stats().spooled > 0, 2000);
    c.down = false;
    await until(() => c.docs.size === 120, 5000);
    await sink.close();
    expect(sink.stats()).toMatchObject({ acked: 120, spooled: 0, pending: 0, outage: 0 });
  });

  it('counts writes after close as dropped by policy', async () => {
    const c = new FakeCluster();
    const sink = await createElasticsearchSink(opts(c));
    await sink.close();
    sink.write(flowRecord(1));
    expect(sink.stats()).toMatchObject({ received: 1, dropped_by_policy: 1 });
  });
});
