// Dedicated Elasticsearch nodes for fault tests (killed, restarted, TLS),
// through scripts/elasticsearch, so the shared node of the es project is
// never disturbed. Plus small helpers to query a node.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { testNodeDir } from '../../helpers/es-global-setup.js';

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../../scripts/elasticsearch');

export interface NodeState {
  pid: number;
  url: string;
  port: number;
  dir: string;
  tls: boolean;
  ca?: string;
  fingerprint?: string;
  username?: string;
  password_file?: string;
}

/** A directory next to the shared test node's, so the same permissions apply. */
export function nodeDir(name: string): string {
  return resolve(testNodeDir(), '..', `vitest-${name}`);
}

export async function startNode(dir: string, o: { tls?: boolean; port?: number } = {}): Promise<NodeState> {
  const args = ['start', '--dir', dir, ...(o.tls ? ['--tls'] : []), ...(o.port ? ['--port', String(o.port)] : [])];
  await run(SCRIPT, args, { env: { ...process.env, CI: 'true' }, timeout: 600_000 });
  return nodeState(dir);
}

export async function stopNode(dir: string, o: { kill?: boolean } = {}): Promise<void> {
  await run(SCRIPT, ['stop', '--dir', dir, ...(o.kill ? ['--kill'] : [])], { timeout: 120_000 });
}

export function nodeState(dir: string): NodeState {
  return JSON.parse(readFileSync(`${dir}/state.json`, 'utf8')) as NodeState;
}

/** Start from an empty data directory (templates and data of earlier runs gone). */
export async function freshNode(dir: string, o: { tls?: boolean; port?: number } = {}): Promise<NodeState> {
  await stopNode(dir).catch(() => undefined);
  rmSync(`${dir}/data`, { recursive: true, force: true });
  return startNode(dir, o);
}

export function clientFor(url: string): Client {
  return new Client({ node: url, maxRetries: 0, requestTimeout: 30_000 });
}

/** All _ids in the index pattern whose droptrace.id starts with prefix; duplicates kept. */
export async function idsIn(c: Client, index: string, prefix: string): Promise<string[]> {
  await c.transport.request({ method: 'POST', path: `/${index}/_refresh`, querystring: { ignore_unavailable: 'true', allow_no_indices: 'true' } });
  const r = await c.transport.request<{ hits: { hits: Array<{ _id: string }> } }>({
    method: 'POST',
    path: `/${index}/_search`,
    querystring: { ignore_unavailable: 'true', allow_no_indices: 'true' },
    body: { size: 10_000, _source: false, query: { prefix: { 'droptrace.id': prefix } } },
  });
  return r.hits.hits.map((h) => h._id);
}

export function expectedIds(run: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `${run}-flow-${from + i}`).sort();
}
