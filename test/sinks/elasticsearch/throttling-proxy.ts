// A tiny HTTP proxy in front of a real Elasticsearch that misbehaves the way
// a loaded cluster does: some `_bulk` requests get a 429, some items inside a
// bulk are answered 429 without reaching Elasticsearch (partial failures),
// and requests with too many items get 413. Everything else is forwarded.
import { createServer, request, type Server, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ThrottleRules {
  /** Answer 429 to every n-th bulk request (0 = never). */
  rejectEveryNthRequest?: number;
  /** Answer 429 for an item when this returns true (it is not forwarded). */
  rejectItem?: (id: string, attempt: number) => boolean;
  /** Answer 413 to bulk requests with more items than this. */
  maxItems?: number;
}

export interface ThrottlingProxy {
  url: string;
  stats: { bulkRequests: number; rejectedRequests: number; rejectedItems: number; tooLarge: number; forwardedItems: number };
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startThrottlingProxy(target: string, rules: ThrottleRules): Promise<ThrottlingProxy> {
  const t = new URL(target);
  const stats = { bulkRequests: 0, rejectedRequests: 0, rejectedItems: 0, tooLarge: 0, forwardedItems: 0 };
  const attempts = new Map<string, number>();

  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: t.host, 'content-length': String(body.length) };
      const up = request({ hostname: t.hostname, port: t.port, path: req.url, method: req.method, headers }, async (res) => {
        resolve({ status: res.statusCode ?? 502, headers: res.headers, body: await readBody(res) });
      });
      up.on('error', reject);
      up.end(body);
    });

  const server: Server = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const isBulk = req.method === 'POST' && (req.url ?? '').split('?')[0].endsWith('/_bulk');
      if (!isBulk) {
        const up = await forward(req, body);
        res.writeHead(up.status, up.headers);
        res.end(up.body);
        return;
      }
      stats.bulkRequests++;
      const lines = body.toString('utf8').split('\n').filter(Boolean);
      const n = lines.length / 2;
      const json = (status: number, o: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
        res.end(JSON.stringify(o));
      };
      if (rules.maxItems !== undefined && n > rules.maxItems) {
        stats.tooLarge++;
        return json(413, { error: { type: 'request_entity_too_large', reason: 'too many items for this test' }, status: 413 });
      }
      if (rules.rejectEveryNthRequest && stats.bulkRequests % rules.rejectEveryNthRequest === 0) {
        stats.rejectedRequests++;
        return json(429, { error: { type: 'es_rejected_execution_exception', reason: 'rejected execution (test proxy)' }, status: 429 });
      }
      // Split items: rejected ones are answered here, the rest go to Elasticsearch.
      const verdicts: Array<'forward' | 'reject'> = [];
      const kept: string[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const id = (JSON.parse(lines[i]).create?._id ?? '') as string;
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        if (rules.rejectItem?.(id, attempt)) {
          verdicts.push('reject');
          stats.rejectedItems++;
        } else {
          verdicts.push('forward');
          kept.push(lines[i], lines[i + 1]);
        }
      }
      stats.forwardedItems += kept.length / 2;
      let upItems: unknown[] = [];
      let upHeaders: Record<string, string | string[] | undefined> = { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' };
      if (kept.length) {
        const up = await forward(req, Buffer.from(kept.join('\n') + '\n'));
        if (up.status !== 200) {
          res.writeHead(up.status, up.headers);
          res.end(up.body);
          return;
        }
        upItems = (JSON.parse(up.body.toString('utf8')) as { items?: unknown[] }).items ?? [];
        upHeaders = { ...up.headers };
        delete upHeaders['content-length'];
      }
      const items: unknown[] = [];
      let k = 0;
      for (const v of verdicts) {
        items.push(v === 'forward' ? upItems[k++] : { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected item (test proxy)' } } });
      }
      res.writeHead(200, upHeaders);
      res.end(JSON.stringify({ errors: true, items }));
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
