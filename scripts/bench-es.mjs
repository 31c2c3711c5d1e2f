#!/usr/bin/env node
// Elasticsearch sink benchmark (needs `npm run build`):
//   1. shipping rate of N flow records through the sink vs a raw `_bulk` of
//      the same documents to the same node (same batch size, one request at a
//      time, serialization timed in both), R interleaved repeats, median ratio;
//   2. memory during a simulated outage: records written at a fixed rate to a
//      sink whose Elasticsearch is down, RSS/heap sampled every second.
//
//   node scripts/bench-es.mjs [--n 100000] [--repeats 5] [--batch 1000] [--queue-max 20000]
//                             [--paced] [--outage-seconds 60] [--rate 20000] [--es-url URL]
// Without --es-url / ES_URL it starts the default node with scripts/elasticsearch
// (and stops it again at the end if it was not running before).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate as tick } from 'node:timers/promises';
import { createServer } from 'node:net';
import { median, fmt } from './bench-lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { createElasticsearchSink } = await import(join(ROOT, 'dist/sinks/elasticsearch/sink.js'));
const { buildClient } = await import(join(ROOT, 'dist/sinks/elasticsearch/client.js'));
const { setupElasticsearch } = await import(join(ROOT, 'dist/sinks/elasticsearch/setup-elasticsearch.js'));

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const N = Number(args.n ?? 100_000);
const REPEATS = Number(args.repeats ?? process.env.BENCH_REPEATS ?? 5);
const BATCH = Number(args.batch ?? 1000);
const OUTAGE_S = Number(args['outage-seconds'] ?? 60);
const RATE = Number(args.rate ?? 20_000);
const PACED = process.argv.includes('--paced');
const QUEUE_MAX = Number(args['queue-max'] ?? 20_000);
let url = args['es-url'] ?? process.env.ES_URL;
// A default node this script started is stopped again at the end; one that was already running is left alone.
let startedNode = false;
if (!url) {
  const es = join(ROOT, 'scripts/elasticsearch');
  startedNode = spawnSync(es, ['status'], { stdio: 'ignore' }).status !== 0;
  url = execFileSync(es, ['start'], { encoding: 'utf8' }).trim().split('\n').pop();
}
const NS = 'bench';

function flow(i, run) {
  const start = new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 100) * 10_000);
  return {
    '@timestamp': start.toISOString(),
    event: { kind: 'metric', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.flows', reason: ['NETFILTER_DROP', 'NO_SOCKET', 'TCP_INVALID_SEQUENCE'][i % 3], start: start.toISOString(), end: new Date(start.getTime() + 10_000).toISOString() },
    network: { type: 'ipv4', transport: 'udp', iana_number: '17', direction: i % 2 ? 'ingress' : 'egress' },
    source: { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) },
    destination: { ip: '10.9.0.1', port: 5000 + (i % 7) },
    host: { name: 'benchhost' },
    observer: { ingress: { interface: { id: '3', name: 'veth0' } } },
    droptrace: {
      id: `${run}-${i}`, count: 1 + (i % 50), bytes: 64 * (1 + (i % 50)),
      drop: { reason_code: 12, location: { address: '0xffffffffc0a015a0', symbol: 'nft_do_chain', offset: 420, module: 'nf_tables' } },
      netns: { inode: 4026532301 }, path: 'local-in', flow: { id: `f${i}` }, window: { interval_s: 10, start_ns: String(1_000_000_000 + i) },
    },
  };
}

const records = (run) => Array.from({ length: N }, (_, i) => flow(i, run));

async function viaSink(run) {
  const recs = records(run);
  const spoolDir = mkdtempSync(join(tmpdir(), 'bench-spool-'));
  const sink = await createElasticsearchSink({ url, namespace: NS, spoolDir, batchSize: BATCH, flushIntervalMs: 1000, queueMax: QUEUE_MAX });
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i++) {
    sink.write(recs[i]);
    if (i % BATCH === BATCH - 1) {
      await tick();
      // --paced: the producer waits while the queue is half full (shipping
      // path only); default: it never waits, so a burst beyond the memory
      // queue goes through the disk spool, as a real burst would.
      if (PACED) while (sink.stats().pending > QUEUE_MAX / 2) await new Promise((r) => setTimeout(r, 1));
    }
  }
  await sink.flush();
  // Until every record is in a final state (a refused or dropped one must fail the run below, not hang it).
  const final = (s) => s.acked + s.duplicate + s.dead_lettered + s.dead_letter_failed + s.dropped_by_policy;
  while (final(sink.stats()) < N) {
    if (performance.now() - t0 > 600_000) throw new Error(`sink not done after 600 s: ${JSON.stringify(sink.stats())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  const s = sink.stats();
  await sink.close();
  rmSync(spoolDir, { recursive: true, force: true });
  if (s.acked !== N) throw new Error(`sink acked ${s.acked} of ${N}: ${JSON.stringify(s)}`);
  return { rate: (N / ms) * 1000, spilled: s.spilled };
}

async function viaRawBulk(client, run) {
  const recs = records(run);
  const index = `metrics-droptrace.flows-${NS}`;
  const t0 = performance.now();
  for (let i = 0; i < recs.length; i += BATCH) {
    let body = '';
    for (const r of recs.slice(i, i + BATCH)) {
      body += `{"create":{"_index":"${index}","_id":${JSON.stringify(r.droptrace.id)}}}\n${JSON.stringify({ ...r, data_stream: { type: 'metrics', dataset: 'droptrace.flows', namespace: NS } })}\n`;
    }
    const res = await client.transport.request({ method: 'POST', path: '/_bulk', bulkBody: body });
    if (res.errors) throw new Error('raw bulk had item errors');
  }
  return { rate: (N / (performance.now() - t0)) * 1000 };
}

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

async function outage() {
  const spoolDir = mkdtempSync(join(tmpdir(), 'bench-outage-'));
  const down = `http://127.0.0.1:${await freePort()}`;
  const spoolMaxBytes = 256 << 20;
  const sink = await createElasticsearchSink({ url: down, namespace: NS, spoolDir, batchSize: BATCH, spoolMaxBytes, log: () => undefined });
  global.gc?.();
  const baseline = process.memoryUsage();
  const samples = [];
  const t0 = Date.now();
  let i = 0;
  const perTick = Math.max(1, Math.round(RATE / 100));
  while (Date.now() - t0 < OUTAGE_S * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE);
    while (i < due) {
      for (let k = 0; k < perTick && i < due; k++, i++) sink.write(flow(i, 'outage'));
      await tick();
    }
    if (samples.length === 0 || Date.now() - samples[samples.length - 1].t >= 1000) {
      const m = process.memoryUsage();
      samples.push({ t: Date.now(), rss: m.rss, heap: m.heapUsed, spooled: sink.stats().spooled, pending: sink.stats().pending });
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const s = sink.stats();
  await sink.close();
  rmSync(spoolDir, { recursive: true, force: true });
  const mb = (b) => (b / 1048576).toFixed(0);
  const maxRss = Math.max(...samples.map((x) => x.rss));
  const maxHeap = Math.max(...samples.map((x) => x.heap));
  const lastQuarter = samples.slice(Math.floor(samples.length * 0.75));
  console.log(`\nOutage: ${OUTAGE_S} s at ${fmt(RATE)} records/s (${fmt(i)} written), Elasticsearch down, spool limit ${mb(spoolMaxBytes)} MiB`);
  console.log('| t (s) | RSS MiB | heap MiB | pending | spooled |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const x of samples.filter((_, k) => k % Math.max(1, Math.floor(samples.length / 8)) === 0 || k === samples.length - 1)) {
    console.log(`| ${((x.t - t0) / 1000).toFixed(0)} | ${mb(x.rss)} | ${mb(x.heap)} | ${fmt(x.pending)} | ${fmt(x.spooled)} |`);
  }
  console.log(`baseline RSS ${mb(baseline.rss)} MiB; max RSS ${mb(maxRss)} MiB, max heap ${mb(maxHeap)} MiB; last-quarter RSS ${mb(Math.min(...lastQuarter.map((x) => x.rss)))}–${mb(Math.max(...lastQuarter.map((x) => x.rss)))} MiB`);
  console.log(`end state: received ${fmt(s.received)}, spooled ${fmt(s.spooled)}, dropped_by_policy ${fmt(s.dropped_by_policy)} (spool full → oldest segments dropped), spool ${mb(s.spool_bytes)} MiB`);
}

const client = buildClient({ url });
await setupElasticsearch(client, { url }, { namespace: NS, retention: '1d' });
// The outage first, so its memory baseline is not the throughput runs' garbage.
if (OUTAGE_S > 0) await outage();
console.log(`\nThroughput: Elasticsearch ${url}; ${fmt(N)} flow records per run, batch ${BATCH}, queue ${fmt(QUEUE_MAX)}${PACED ? ', paced producer' : ', unpaced producer (bursts spill to disk)'}, ${REPEATS} interleaved repeats`);
// Warm up both paths (JIT, connections, shard creation).
const stamp = Date.now().toString(36);
await viaRawBulk(client, `warm-raw-${stamp}`);
await viaSink(`warm-sink-${stamp}`);
const rows = [];
for (let r = 0; r < REPEATS; r++) {
  const first = r % 2 === 0 ? 'sink' : 'raw';
  const res = {};
  for (const which of first === 'sink' ? ['sink', 'raw'] : ['raw', 'sink']) {
    res[which] = which === 'sink' ? await viaSink(`s${r}-${stamp}`) : await viaRawBulk(client, `r${r}-${stamp}`);
  }
  rows.push({ r: r + 1, sink: res.sink.rate, raw: res.raw.rate, ratio: res.sink.rate / res.raw.rate, spilled: res.sink.spilled });
}
console.log('\n| repeat | sink rec/s | raw _bulk rec/s | sink/raw | sink spilled |');
console.log('|---:|---:|---:|---:|---:|');
for (const x of rows) console.log(`| ${x.r} | ${fmt(x.sink)} | ${fmt(x.raw)} | ${x.ratio.toFixed(2)} | ${fmt(x.spilled)} |`);
console.log(`| median | ${fmt(median(rows.map((x) => x.sink)))} | ${fmt(median(rows.map((x) => x.raw)))} | ${median(rows.map((x) => x.ratio)).toFixed(2)} | |`);
await client.close();
if (startedNode) execFileSync(join(ROOT, 'scripts/elasticsearch'), ['stop'], { stdio: 'inherit' });
