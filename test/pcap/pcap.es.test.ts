// droptrace pcap → Elasticsearch: the flow records of a crafted lossy
// capture land in metrics-droptrace.flows-<ns> with their ids; analysing the
// same capture again (even under another file name, as tcpdump -W reuses
// names) creates no new documents: the ids come from the capture content.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { Conversation, pcapFile } from './helpers/craft.js';
import { runDroptrace } from '../helpers/droptrace-process.js';

const NS = `pcap${process.pid}`;

function conv(): Conversation {
  const a = new Conversation({ ip: '10.7.0.1', port: 43000 }, { ip: '10.7.0.2', port: 80 });
  a.seg(true, 100, undefined, 'S').seg(false, 900, 101, 'SA').seg(true, 101, 901, 'A')
    .seg(true, 101, 901, 'AP', { len: 500 })
    .seg(true, 1101, 901, 'AP', { len: 500 })
    .seg(false, 901, 601, 'A')
    .seg(false, 901, 601, 'A')
    .seg(false, 901, 601, 'A')
    .seg(true, 601, 901, 'AP', { len: 500 })
    .seg(false, 901, 1601, 'A')
    .seg(true, 1101, 901, 'AP', { len: 500, dtUs: 400_000 });
  return a;
}

describe('droptrace pcap → Elasticsearch', () => {
  let dir: string;
  let es: Client;
  let url: string;
  beforeAll(() => {
    url = inject('esUrl');
    const auth = process.env.DROPTRACE_ES_API_KEY ? { apiKey: process.env.DROPTRACE_ES_API_KEY } : undefined;
    es = new Client({ node: url, maxRetries: 0, ...(auth ? { auth } : {}) });
    dir = mkdtempSync(join(tmpdir(), 'droptrace-pcap-es-'));
  });
  afterAll(async () => {
    await es.indices.deleteDataStream({ name: `*-droptrace.*-${NS}` }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('records with content ids; a re-analysis (another name) adds nothing', async () => {
    const f = join(dir, 'dump00');
    writeFileSync(f, pcapFile(conv().toFrames()));
    const cfg = join(dir, 'droptrace.yaml');
    writeFileSync(cfg, `es-url: ${url}\nes-namespace: ${NS}\nes-spool-dir: ${join(dir, 'spool')}\noutput-dir: ${join(dir, 'out')}\n`);
    const env = { DROPTRACE_CONFIG: cfg, ...(process.env.DROPTRACE_ES_API_KEY ? { DROPTRACE_ES_API_KEY: process.env.DROPTRACE_ES_API_KEY } : {}) };
    const r1 = await runDroptrace(['pcap', f], { env });
    expect(r1.code, r1.stderr).toBe(0);
    const written = readFileSync(join(dir, 'out', 'flows.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(written.map((r) => r.event.action).sort()).toEqual(['tcp-dup-ack', 'tcp-fast-retransmit', 'tcp-lost-segment', 'tcp-spurious-retransmit']);
    const index = `metrics-droptrace.flows-${NS}`;
    await es.indices.refresh({ index });
    const hits = (await es.search({ index, size: 100, query: { match_all: {} } })).hits.hits;
    expect(hits.map((h) => h._id).sort()).toEqual(written.map((r) => r.droptrace.id).sort());
    const fast = hits.find((h) => (h._source as any).event.action === 'tcp-fast-retransmit')!._source as any;
    expect(fast.observer.type).toBe('pcap');
    expect(fast.droptrace.count).toBe(1);

    // tcpdump -W reuses names; here the same content under a new name.
    const g = join(dir, 'dump01');
    copyFileSync(f, g);
    const r2 = await runDroptrace(['pcap', g], { env });
    expect(r2.code, r2.stderr).toBe(0);
    await es.indices.refresh({ index });
    const again = (await es.search({ index, size: 100, query: { match_all: {} } })).hits.hits;
    expect(again.length).toBe(hits.length);
  });
});
