// What the sink sends on the wire for each auth kind, against a local HTTP
// server that answers like Elasticsearch (the real-node checks are in tls.es.test.ts).
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server, type IncomingHttpHeaders } from 'node:http';
import { createElasticsearchSink } from '../../../src/sinks/elasticsearch/sink.js';
import { SinkError } from '../../../src/errors.js';
import { flowRecord, tmp } from './records.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function fakeEs(onRequest: (h: IncomingHttpHeaders, url: string) => number): Promise<{ url: string; seen: Array<{ url: string; auth?: string }> }> {
  const seen: Array<{ url: string; auth?: string }> = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      const status = onRequest(req.headers, req.url ?? '');
      const items = body.split('\n').filter(Boolean).filter((_, i) => i % 2 === 0).map(() => ({ create: { status: 201 } }));
      res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
      res.end(JSON.stringify(status === 200 ? (req.url?.startsWith('/_bulk') ? { errors: false, items } : { username: 'x' }) : { error: { type: 'security_exception', reason: 'nope' }, status }));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as { port: number }).port}`, seen };
}

describe('Elasticsearch sink auth on the wire', () => {
  it('sends an API key as "Authorization: ApiKey …" on the probe and on every bulk', async () => {
    const es = await fakeEs(() => 200);
    const sink = await createElasticsearchSink({ url: es.url, auth: { apiKey: 'aWQ6a2V5' }, spoolDir: tmp(), batchSize: 5 });
    for (let i = 0; i < 10; i++) sink.write(flowRecord(i));
    await sink.close();
    expect(sink.stats()).toMatchObject({ acked: 10 });
    expect(es.seen[0].url).toBe('/_security/_authenticate');
    expect(es.seen.length).toBeGreaterThanOrEqual(3);
    for (const s of es.seen) expect(s.auth).toBe('ApiKey aWQ6a2V5');
  });

  it('sends basic auth, and turns a 403 at start into a SinkError naming the privileges', async () => {
    const es = await fakeEs(() => 403);
    const err = await createElasticsearchSink({ url: es.url, auth: { username: 'u', password: 'p' }, spoolDir: tmp() }).catch((e) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err.message).toMatch(/refused access \(403\)/);
    expect(err.hint).toMatch(/create_doc/);
    expect(es.seen).toEqual([{ url: '/_security/_authenticate', auth: `Basic ${Buffer.from('u:p').toString('base64')}` }]);
  });
});
