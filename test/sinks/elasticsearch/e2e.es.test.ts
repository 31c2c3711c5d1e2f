// Live end to end: kernel → `droptrace run` → rotating files AND Elasticsearch,
// the two compared record by record. Needs root, bpftrace (DROPTRACE_BPFTRACE
// if set, else the system one), nft, python3, and the es project's node.
//
// What Elasticsearch holds must be exactly what the file sink wrote, plus the
// one documented transformation of the Elasticsearch sink
// (src/sinks/elasticsearch/routing.ts, toBulkItem):
//   _source = the file record with ONE field added,
//               data_stream: { type, dataset: event.dataset, namespace: --es-namespace }
//             where type is `logs` for droptrace.drops / droptrace.retransmits and
//             `metrics` for droptrace.flows / droptrace.stats;
//             nothing removed, renamed, reordered into other types or re-valued.
//   _id     = droptrace.id (a record without one: contentId of the serialized document)
//   stream  = <type>-<dataset>-<namespace>
// Every record in the files reaches Elasticsearch exactly once (no record is
// filtered out of the Elasticsearch sink), and nothing else is there.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import { Lab, PY_TCP_SEND, PY_TCP_SINK, PY_UDP_SEND, spawnIn, runIn } from '../../helpers/netns.js';
import { expectNoSelfLoss, missedBy, type SelfStats } from '../../helpers/self-stats.js';
import { runDroptrace, startDroptrace } from '../../helpers/droptrace-process.js';
import { contentId } from '../../../src/sinks/elasticsearch/routing.js';

/** The added field's `type`, per dataset (the only datasets droptrace run writes). */
const TYPE_OF: Record<string, 'logs' | 'metrics'> = {
  'droptrace.drops': 'logs',
  'droptrace.retransmits': 'logs',
  'droptrace.flows': 'metrics',
  'droptrace.stats': 'metrics',
  'droptrace.counters': 'metrics',
  'droptrace.findings': 'logs',
};

/** Credentials, if the node needs any, come from the environment like droptrace's own. */
const AUTH_ENV = ['DROPTRACE_ES_API_KEY', 'DROPTRACE_ES_USERNAME', 'DROPTRACE_ES_PASSWORD'];
function authEnv(): Record<string, string> {
  return Object.fromEntries(AUTH_ENV.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
}
function client(url: string): Client {
  const e = process.env;
  const auth = e.DROPTRACE_ES_API_KEY ? { apiKey: e.DROPTRACE_ES_API_KEY } : e.DROPTRACE_ES_USERNAME ? { username: e.DROPTRACE_ES_USERNAME, password: e.DROPTRACE_ES_PASSWORD ?? '' } : undefined;
  return new Client({ node: url, maxRetries: 0, requestTimeout: 30_000, ...(auth ? { auth } : {}) });
}

const execAsync = runIn;

/** Every NDJSON record the file sink wrote (live and rotated files). */
function fileRecords(dir: string): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.ndjson')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line.trim()) out.push(JSON.parse(line));
  }
  return out;
}

interface Hit {
  _index: string;
  _id: string;
  _source: Record<string, any>;
}

async function allDocs(es: Client, ns: string): Promise<Hit[]> {
  // Every droptrace-shaped stream of this namespace, expected or not.
  const index = `logs-*-${ns},metrics-*-${ns}`;
  await es.transport.request({ method: 'POST', path: `/${index}/_refresh`, querystring: { ignore_unavailable: 'true', allow_no_indices: 'true' } });
  const r = await es.transport.request<{ hits: { total: { value: number; relation: string }; hits: Hit[] } }>({
    method: 'POST',
    path: `/${index}/_search`,
    querystring: { ignore_unavailable: 'true', allow_no_indices: 'true' },
    body: { size: 10_000, track_total_hits: true, query: { match_all: {} }, sort: ['_doc'] },
  });
  // Nothing truncated: all documents fit in this one page.
  expect(r.hits.total).toEqual({ value: r.hits.hits.length, relation: 'eq' });
  return r.hits.hits;
}

const sum = (rs: Array<Record<string, any>>) => rs.reduce((n, r) => n + Number(r.droptrace.count ?? 0), 0);

describe('end to end: kernel drops and retransmits → droptrace run → files and Elasticsearch', () => {
  const lab = new Lab();
  let A: string, B: string;
  let url: string;
  let es: Client;
  const work = mkdtempSync(join(tmpdir(), 'dt-e2e-'));

  beforeAll(() => {
    expect(process.getuid?.()).toBe(0);
    url = inject('esUrl');
    es = client(url);
    // B (traced): UDP from A to 40201 is dropped on input → drops in B.
    ({ A, B } = lab.hosts('10.204.1', 'e', 'udp dport 40201 counter drop comment "udp-drop";'));
    // A (not traced): 10 % of B's TCP segments to 40202 are lost on the way
    // in → B, the sender, retransmits (egress, in B's netns).
    lab.nft(A, `table inet dtest {
      chain c_in { type filter hook input priority 0; tcp dport 40202 numgen random mod 10 0 counter drop comment "tcp-10pct"; }
    }`);
  });

  afterAll(async () => {
    lab.cleanup();
    await es?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('every file record is in its data stream exactly once, _source = record + data_stream; flow counts = nft counter', async () => {
    const ns = `e2e${Date.now().toString(36)}${process.pid}`;
    const outDir = join(work, `${ns}-files`);
    const spoolDir = join(work, `${ns}-spool`);
    const env = authEnv();
    const userArgs = env.DROPTRACE_ES_USERNAME ? ['--es-username', env.DROPTRACE_ES_USERNAME] : [];

    // 1. Templates and data streams of a fresh namespace.
    const setup = await runDroptrace(['setup', 'elasticsearch', '--es-url', url, ...userArgs, '--namespace', ns, '--json'], { env });
    expect(setup.code, setup.stderr).toBe(0);
    const created = JSON.parse(setup.stdout.trim().split('\n').pop()!);
    expect(created.dataStreams.map((d: { state: string }) => d.state)).toEqual(['created', 'created', 'created', 'created', 'created', 'created']);

    // 2. The sidecar: 1 s windows, per-event records at most 100/s, files and Elasticsearch.
    const dt = startDroptrace([
      'run', '--interval', '1', '--stream-rate', '100',
      '--es-url', url, '--es-namespace', ns, '--es-spool-dir', spoolDir, '--es-flush-interval', '0.5',
      '--output-dir', outDir, '--filter-netns', String(lab.netnsInode(B)),
    ], env);
    let ready: Record<string, any>;
    try {
      ready = await dt.ready();

      // 3a. UDP drops alone (two flows, 400 packets each, ~1 s).
      const udp = await Promise.all([
        execAsync(A, 'python3', ['-c', PY_UDP_SEND, '10.204.1.2', '40201', '400', '41001']),
        execAsync(A, 'python3', ['-c', PY_UDP_SEND, '10.204.1.2', '40201', '400', '41002']),
      ]);
      for (const u of udp) expect(u.code, u.err).toBe(0);
      // 3b. Then a 2 s TCP transfer B → A through A's 10 % loss.
      const sink = spawnIn(A, 'python3', ['-c', PY_TCP_SINK, '10.204.1.1', '40202']);
      await sink.waitFor('listening');
      const send = await execAsync(B, 'python3', ['-c', PY_TCP_SEND, '10.204.1.1', '40202', '2']);
      expect(send.code, send.err).toBe(0);
      expect((await sink.done).code).toBe(0);
      // Stop with SIGINT: the last, partial window is flushed with it, and it
      // exits promptly (the sink's 10 s close grace is a bound, not a wait).
      const t0 = Date.now();
      expect(await dt.stop()).toBe(0);
      expect(Date.now() - t0).toBeLessThan(8000);
    } finally {
      dt.cleanup();
    }
    const stderr = dt.stderr.join('\n');

    // 4. The file sink's records.
    const recs = fileRecords(outDir);
    const byId = new Map<string, Record<string, any>>();
    const sharedIds: unknown[] = [];
    const expected = new Map<string, { index: string; source: Record<string, any> }>();
    for (const r of recs) {
      const dataset = r.event?.dataset;
      expect(Object.keys(TYPE_OF), `dataset of ${JSON.stringify(r).slice(0, 300)}`).toContain(dataset);
      expect(r.data_stream).toBeUndefined();
      const data_stream = { type: TYPE_OF[dataset], dataset, namespace: ns };
      const source = { ...r, data_stream };
      const id = typeof r.droptrace?.id === 'string' && r.droptrace.id ? r.droptrace.id : contentId(JSON.stringify(source));
      // Ids are unique: two different records never share one (an Elasticsearch create would drop the second).
      if (byId.has(id)) sharedIds.push({ id, first: byId.get(id), again: r });
      byId.set(id, r);
      expected.set(id, { index: `${data_stream.type}-${dataset}-${ns}`, source });
    }

    expect(sharedIds.slice(0, 3)).toEqual([]);

    // What the run saw, so the comparison is not vacuous.
    const flows = recs.filter((r) => r.event.dataset === 'droptrace.flows' && !r.droptrace.flow?.final);
    const udpFlows = flows.filter((r) => r.event.action === 'packet-dropped' && r.destination?.port === 40201);
    const retxFlows = flows.filter((r) => r.event.action === 'tcp-retransmit' || r.event.action === 'tcp-loss-probe');
    const dropEvents = recs.filter((r) => r.event.dataset === 'droptrace.drops');
    const retxEvents = recs.filter((r) => r.event.dataset === 'droptrace.retransmits');
    const stats = recs.filter((r) => r.event.action === 'self-stats');
    expect(udpFlows.length).toBeGreaterThanOrEqual(2);
    expect(retxFlows.length).toBeGreaterThan(0);
    expect(dropEvents.length).toBeGreaterThan(0);
    expect(retxEvents.length).toBeGreaterThan(0);
    expect(stats.at(-1)?.droptrace.stats.final).toBe(true);

    // 5. Flow counts against the kernel's own counter. Exact with the raw
    //    tracepoint; with the perf-based one (bpftrace 0.17) a drop the kernel
    //    skipped (nested BPF) is counted in kernel_missed, never silently lost.
    const counter = lab.nftCounter(B, 'dtest', 'udp-drop');
    expect(counter).toBeGreaterThan(700);
    const traced = sum(udpFlows);
    const finalStats = stats.at(-1)!.droptrace.stats as SelfStats;
    expectNoSelfLoss(finalStats);
    const missed = missedBy(finalStats, 'drops');
    expect(traced).toBeLessThanOrEqual(counter);
    expect(counter - traced).toBeLessThanOrEqual(missed);
    if (ready.signals.find((s: any) => s.signal === 'drops').variant === 'rawtracepoint' || missed === 0) expect(traced).toBe(counter);
    for (const r of udpFlows) {
      expect(r.network.direction).toBe('ingress');
      expect(r.event.reason).toBe('NETFILTER_DROP');
      expect(r.droptrace.netns.inode).toBe(lab.netnsInode(B));
    }
    for (const r of retxFlows) {
      expect(r.network.direction).toBe('egress');
      expect(r.source.ip).toBe('10.204.1.2');
    }
    expect(lab.nftCounter(A, 'dtest', 'tcp-10pct')).toBeGreaterThan(0);

    // 6. The Elasticsearch sink's own account: everything acked, nothing else.
    const closed = /closed: (\d+) acked, (\d+) duplicate, (\d+) dead-lettered, (\d+) dropped by policy, (\d+) left in the spool/.exec(stderr);
    expect(closed, stderr).not.toBeNull();
    expect(closed!.slice(1).map(Number)).toEqual([recs.length, 0, 0, 0, 0]);
    expect(existsSync(join(spoolDir, 'dead-letter.ndjson')) ? readFileSync(join(spoolDir, 'dead-letter.ndjson'), 'utf8') : '').toBe('');

    // 7. Elasticsearch: doc count = unique records; each doc by _id, in its stream, _source as stated above.
    const hits = await allDocs(es, ns);
    expect(hits.length).toBe(byId.size);
    expect(byId.size).toBe(recs.length);
    const seen = new Set<string>();
    const problems: unknown[] = [];
    for (const h of hits) {
      if (seen.has(h._id)) problems.push({ duplicate: h._id });
      seen.add(h._id);
      const want = expected.get(h._id);
      if (!want) {
        problems.push({ unexpected: h._id, index: h._index });
        continue;
      }
      // A data stream's documents live in its backing indices .ds-<stream>-<date>-<generation>.
      if (!h._index.startsWith(`.ds-${want.index}-`)) problems.push({ id: h._id, index: h._index, want: want.index });
      if (!isDeepStrictEqual(h._source, want.source)) problems.push({ id: h._id, es: h._source, file: want.source });
    }
    for (const id of expected.keys()) if (!seen.has(id)) problems.push({ missing: id });
    expect(problems.slice(0, 5)).toEqual([]);

    // Per stream, the numbers line up too (Kibana's view of the same run).
    const perStream = (prefix: string) => hits.filter((h) => h._index.startsWith(`.ds-${prefix}-${ns}-`)).length;
    expect(perStream('logs-droptrace.drops')).toBe(dropEvents.length);
    expect(perStream('logs-droptrace.retransmits')).toBe(retxEvents.length);
    expect(perStream('metrics-droptrace.flows')).toBe(recs.filter((r) => r.event.dataset === 'droptrace.flows').length);
    expect(perStream('metrics-droptrace.stats')).toBe(recs.filter((r) => r.event.dataset === 'droptrace.stats').length);
    // And an aggregation over Elasticsearch gives the kernel's count.
    const agg = await es.transport.request<{ aggregations: { n: { value: number } } }>({
      method: 'POST',
      path: `/metrics-droptrace.flows-${ns}/_search`,
      body: {
        size: 0,
        query: { bool: { filter: [{ term: { 'event.action': 'packet-dropped' } }, { term: { 'destination.port': 40201 } }], must_not: [{ exists: { field: 'droptrace.flow.final' } }] } },
        aggs: { n: { sum: { field: 'droptrace.count' } } },
      },
    });
    expect(agg.aggregations.n.value).toBe(traced);
  });
});
