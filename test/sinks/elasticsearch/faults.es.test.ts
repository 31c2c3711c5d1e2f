// Faults against a real Elasticsearch. Each ends with: documents in ES =
// unique records produced (0 lost, 0 duplicated), checked by id.
// The shared node (inject('esUrl')) takes the non-destructive cases; a
// dedicated node (scripts/elasticsearch --dir …) is killed and restarted.
import { describe, it, expect, inject, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { Client } from '@elastic/elasticsearch';
import { createElasticsearchSink, type ElasticsearchSinkOptions } from '../../../src/sinks/elasticsearch/sink.js';
import { setupElasticsearch } from '../../../src/sinks/elasticsearch/setup-elasticsearch.js';
import { clientFor, idsIn, expectedIds, nodeDir, startNode, stopNode, freshNode, type NodeState } from './es-node.js';
import { startThrottlingProxy } from './throttling-proxy.js';
import { flowRecord, tmp, until, balance } from './records.js';

const NS = 'faults';
const FLOWS = `metrics-droptrace.flows-${NS}`;
const FAST = { initialMs: 200, maxMs: 1000 };

let sharedUrl: string;
let shared: Client;
const logs: string[] = [];
const log = (m: string) => logs.push(m);

function sinkOpts(url: string, extra: Partial<ElasticsearchSinkOptions> = {}): ElasticsearchSinkOptions {
  return { url, namespace: NS, spoolDir: tmp(), batchSize: 50, flushIntervalMs: 100, queueMax: 200, backoff: FAST, closeGraceMs: 3000, log, ...extra };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  sharedUrl = inject('esUrl');
  shared = clientFor(sharedUrl);
  await setupElasticsearch(shared, { url: sharedUrl }, { namespace: NS, retention: '30d' });
});
afterAll(async () => {
  await shared.close();
});

describe('faults on the shared node', () => {
  it('429s for whole requests and for single items, and 413s: all records stored once', async () => {
    const proxy = await startThrottlingProxy(sharedUrl, {
      rejectEveryNthRequest: 3,
      // Every 4th record is refused twice before it gets through.
      rejectItem: (id, attempt) => Number(id.split('-').pop()) % 4 === 0 && attempt <= 2,
      maxItems: 40,
    });
    const run = `thr${Date.now()}`;
    const sink = await createElasticsearchSink(sinkOpts(proxy.url, { batchSize: 100 }));
    for (let i = 0; i < 600; i++) sink.write(flowRecord(i, { run }));
    await until(() => sink.stats().acked + sink.stats().duplicate === 600, 60_000, 50);
    await sink.close();
    await proxy.close();
    expect(proxy.stats.rejectedRequests).toBeGreaterThan(0);
    expect(proxy.stats.rejectedItems).toBeGreaterThan(0);
    expect(proxy.stats.tooLarge).toBeGreaterThan(0);
    const ids = await idsIn(shared, FLOWS, run);
    expect(ids.length).toBe(600);
    expect(ids.sort()).toEqual(expectedIds(run, 600));
    const s = sink.stats();
    expect(s).toMatchObject({ received: 600, dead_lettered: 0, dropped_by_policy: 0, pending: 0, spooled: 0 });
    expect(s.retries).toBeGreaterThan(0);
    expect(balance(s)[0]).toBe(balance(s)[1]);
  });

  it('a mapping conflict goes to the dead-letter file with status and reason; nothing else is affected', async () => {
    const run = `map${Date.now()}`;
    const deadLetterPath = join(tmp(), 'dead', 'dead-letter.ndjson');
    const sink = await createElasticsearchSink(sinkOpts(sharedUrl, { deadLetterPath }));
    for (let i = 0; i < 100; i++) {
      const r = flowRecord(i, { run });
      if (i === 42) r.source = { ip: 'not-an-ip', port: 1 };
      sink.write(r);
    }
    await sink.close();
    expect(sink.stats()).toMatchObject({ received: 100, acked: 99, dead_lettered: 1, pending: 0, spooled: 0 });
    const dead = readFileSync(deadLetterPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ status: 400, _id: `${run}-flow-42`, _index: FLOWS, document: { source: { ip: 'not-an-ip' } } });
    expect(dead[0].error.type).toBe('document_parsing_exception');
    expect(dead[0].error.reason).toMatch(/source\.ip/);
    expect(statSync(deadLetterPath).mode & 0o777).toBe(0o600);
    const ids = await idsIn(shared, FLOWS, run);
    expect(ids.sort()).toEqual(expectedIds(run, 100).filter((id) => id !== `${run}-flow-42`));
  });

  it('resending the same records stores nothing twice (409 = duplicate)', async () => {
    const run = `dup${Date.now()}`;
    for (let pass = 0; pass < 2; pass++) {
      const sink = await createElasticsearchSink(sinkOpts(sharedUrl));
      for (let i = 0; i < 120; i++) sink.write(flowRecord(i, { run }));
      await sink.close();
      expect(sink.stats()).toMatchObject(pass === 0 ? { acked: 120, duplicate: 0 } : { acked: 0, duplicate: 120 });
    }
    expect((await idsIn(shared, FLOWS, run)).length).toBe(120);
  });

  it('spool limit reached: the oldest segments are dropped and counted; the survivors ship later', async () => {
    const run = `lim${Date.now()}`;
    const spoolDir = tmp();
    const down = `http://127.0.0.1:${await freePort()}`;
    const a = await createElasticsearchSink(sinkOpts(down, { spoolDir, spoolMaxBytes: 200_000, spoolSegmentBytes: 25_000 }));
    for (let i = 0; i < 1500; i++) a.write(flowRecord(i, { run }));
    await a.close();
    const sa = a.stats();
    expect(sa.dropped_by_policy).toBeGreaterThan(0);
    expect(sa.spool_bytes).toBeLessThanOrEqual(200_000);
    expect(sa.dropped_by_policy + sa.spooled).toBe(1500);
    expect(logs.some((l) => /not reachable/.test(l))).toBe(true);

    const b = await createElasticsearchSink(sinkOpts(sharedUrl, { spoolDir }));
    expect(b.stats().replayed_in).toBe(sa.spooled);
    await until(() => b.stats().spooled === 0, 30_000);
    await b.close();
    const ids = (await idsIn(shared, FLOWS, run)).sort();
    expect(ids.length).toBe(sa.spooled);
    // Drop-oldest: what survived is the newest records, contiguous to the end.
    expect(ids).toEqual(expectedIds(run, sa.spooled, 1500 - sa.spooled));
  });
});

describe('faults on a dedicated node (killed, restarted, absent)', () => {
  const dir = nodeDir('faults');
  let node: NodeState;
  let es: Client;

  beforeAll(async () => {
    node = await freshNode(dir);
    es = clientFor(node.url);
    await setupElasticsearch(es, { url: node.url }, { namespace: NS, retention: '30d' });
  });
  afterAll(async () => {
    await es?.close();
    await stopNode(dir).catch(() => undefined);
  });

  it('Elasticsearch killed (SIGKILL) mid-stream and restarted: every record stored once', async () => {
    const run = `kill${Date.now()}`;
    const sink = await createElasticsearchSink(sinkOpts(node.url, { queueMax: 100 }));
    let i = 0;
    const produce = (n: number) => {
      for (const end = i + n; i < end; i++) sink.write(flowRecord(i, { run }));
    };
    produce(300);
    await until(() => sink.stats().acked >= 200, 20_000);
    // Keep writing while it is down.
    await stopNode(dir, { kill: true });
    const writer = setInterval(() => produce(20), 50);
    await until(() => sink.stats().outage === 1, 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    const restarted = startNode(dir);
    await until(() => sink.stats().spooled > 0, 20_000);
    node = await restarted;
    clearInterval(writer);
    produce(100);
    const total = i;
    await until(() => sink.stats().acked + sink.stats().duplicate + sink.stats().dead_lettered === total, 90_000, 100);
    await sink.close();
    const s = sink.stats();
    expect(s).toMatchObject({ received: total, dead_lettered: 0, dropped_by_policy: 0, pending: 0, spooled: 0 });
    expect(s.outages).toBeGreaterThanOrEqual(1);
    const ids = (await idsIn(es, FLOWS, run)).sort();
    expect(ids.length).toBe(total);
    expect(ids).toEqual(expectedIds(run, total));
  });

  it('close during an outage persists the spool (0700/0600); the next instance ships it', async () => {
    const run = `term${Date.now()}`;
    const spoolDir = join(tmp(), 'spool');
    await stopNode(dir);
    const a = await createElasticsearchSink(sinkOpts(node.url, { spoolDir, closeGraceMs: 1500 }));
    for (let i = 0; i < 700; i++) a.write(flowRecord(i, { run }));
    const t0 = Date.now();
    await a.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(a.stats()).toMatchObject({ received: 700, acked: 0, pending: 0, spooled: 700, dropped_by_policy: 0 });
    expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
    const segs = readdirSync(spoolDir).filter((f) => f.endsWith('.ndjson'));
    expect(segs.length).toBeGreaterThan(0);
    for (const f of segs) expect(statSync(join(spoolDir, f)).mode & 0o777).toBe(0o600);

    node = await startNode(dir);
    const b = await createElasticsearchSink(sinkOpts(node.url, { spoolDir }));
    expect(b.stats().replayed_in).toBe(700);
    await until(() => b.stats().spooled === 0, 30_000);
    await b.close();
    expect(b.stats()).toMatchObject({ acked: 700, duplicate: 0 });
    const ids = (await idsIn(es, FLOWS, run)).sort();
    expect(ids).toEqual(expectedIds(run, 700));
  });

  it('Elasticsearch not started when the sink starts: records wait, then ship', async () => {
    const run = `late${Date.now()}`;
    await stopNode(dir);
    const sink = await createElasticsearchSink(sinkOpts(node.url));
    expect(logs.some((l) => /not reachable/.test(l))).toBe(true);
    for (let i = 0; i < 400; i++) sink.write(flowRecord(i, { run }));
    await until(() => sink.stats().spooled > 0, 10_000);
    expect(sink.stats().acked).toBe(0);
    node = await startNode(dir);
    await until(() => sink.stats().acked === 400, 60_000, 100).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(sink.stats())}\n${logs.slice(-8).join("\n")}`);
    });
    await sink.close();
    expect(sink.stats()).toMatchObject({ received: 400, acked: 400, duplicate: 0, pending: 0, spooled: 0 });
    const ids = (await idsIn(es, FLOWS, run)).sort();
    expect(ids).toEqual(expectedIds(run, 400));
  });
});
