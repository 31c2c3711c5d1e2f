// `droptrace setup kibana` against a local HTTP server standing in for Kibana
// (no Kibana can be downloaded here): the request must be what Kibana's
// saved objects import API takes — POST …/api/saved_objects/_import?overwrite=true,
// kbn-xsrf header, multipart/form-data with the NDJSON as the "file" part.
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { importKibanaAssets } from '../../../src/sinks/elasticsearch/setup-kibana.js';
import { DEFAULT_KIBANA_ASSETS } from '../../../src/session/setup.js';
import { SinkError } from '../../../src/errors.js';

const ASSETS = resolve(import.meta.dirname, '../../../deploy/kibana/droptrace.ndjson');
let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

interface Seen { method?: string; url?: string; headers: IncomingMessage['headers']; file?: Buffer; fileName?: string; partName?: string }

/** Parse a multipart body the strict way a server would; throws if malformed. */
function parseMultipart(body: Buffer, contentType: string): { name: string; filename: string; data: Buffer } {
  const m = /^multipart\/form-data; boundary=(.+)$/.exec(contentType);
  if (!m) throw new Error(`not multipart: ${contentType}`);
  const boundary = `--${m[1]}`;
  const text = body.toString('latin1');
  if (!text.startsWith(boundary + '\r\n') || !text.endsWith(`\r\n${boundary}--\r\n`)) throw new Error('bad framing');
  const part = text.slice(boundary.length + 2, text.length - boundary.length - 6);
  const split = part.indexOf('\r\n\r\n');
  const head = part.slice(0, split);
  const disp = /Content-Disposition: form-data; name="([^"]+)"; filename="([^"]+)"/i.exec(head);
  if (!disp) throw new Error(`no content-disposition: ${head}`);
  return { name: disp[1], filename: disp[2], data: Buffer.from(part.slice(split + 4), 'latin1') };
}

async function fakeKibana(respond: (s: Seen) => [number, unknown]): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method, url: req.url, headers: req.headers };
      try {
        const p = parseMultipart(Buffer.concat(chunks), req.headers['content-type'] ?? '');
        Object.assign(s, { file: p.data, fileName: p.filename, partName: p.name });
      } catch {
        // Left undefined: the test asserts on it.
      }
      seen.push(s);
      const [status, body] = respond(s);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as { port: number }).port}`, seen };
}

const ok = (s: Seen): [number, unknown] => {
  const n = s.file ? s.file.toString('utf8').trim().split('\n').length : 0;
  return s.headers['kbn-xsrf'] && s.partName === 'file' ? [200, { success: true, successCount: n, successResults: [] }] : [400, { statusCode: 400, error: 'Bad Request', message: 'bad request' }];
};

describe('setup kibana (import request)', () => {
  it('posts the bundled NDJSON as a multipart "file" part with kbn-xsrf, overwrite=true, and auth', async () => {
    const k = await fakeKibana(ok);
    const r = await importKibanaAssets({ url: k.url, file: DEFAULT_KIBANA_ASSETS, auth: { username: 'elastic', password: 'pw' } });
    expect(r.successCount).toBe(12);
    expect(k.seen).toHaveLength(1);
    const s = k.seen[0];
    expect(s.method).toBe('POST');
    expect(s.url).toBe('/api/saved_objects/_import?overwrite=true');
    expect(s.headers['kbn-xsrf']).toBeTruthy();
    expect(s.headers.authorization).toBe(`Basic ${Buffer.from('elastic:pw').toString('base64')}`);
    expect(s.fileName).toBe('droptrace.ndjson');
    expect(s.file!.equals(readFileSync(ASSETS))).toBe(true);
  });

  it('targets a space and sends an API key', async () => {
    const k = await fakeKibana(ok);
    await importKibanaAssets({ url: `${k.url}/kibana`, space: 'netops', file: ASSETS, auth: { apiKey: 'a2V5' } });
    expect(k.seen[0].url).toBe('/kibana/s/netops/api/saved_objects/_import?overwrite=true');
    expect(k.seen[0].headers.authorization).toBe('ApiKey a2V5');
  });

  it('reports objects Kibana refused, and 401, as SinkErrors', async () => {
    let k = await fakeKibana(() => [200, { success: false, successCount: 11, errors: [{ id: 'droptrace-lens-top-flows', type: 'lens', error: { type: 'missing_references' } }] }]);
    await expect(importKibanaAssets({ url: k.url, file: ASSETS })).rejects.toThrow(/lens\/droptrace-lens-top-flows: missing_references/);
    await new Promise<void>((r) => server!.close(() => r()));
    k = await fakeKibana(() => [401, { statusCode: 401, message: 'unauthorized' }]);
    const e = await importKibanaAssets({ url: k.url, file: ASSETS }).catch((x) => x);
    expect(e).toBeInstanceOf(SinkError);
    expect(e.message).toMatch(/refused the import \(401\)/);
  });

  it('an unreachable Kibana is a clear error', async () => {
    await expect(importKibanaAssets({ url: 'http://127.0.0.1:1', file: ASSETS })).rejects.toThrow(/cannot reach Kibana/);
  });
});
