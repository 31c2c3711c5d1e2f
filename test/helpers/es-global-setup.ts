// vitest globalSetup for the `es` project: a real Elasticsearch for the
// *.es.test.ts files. ES_URL wins (an operator's or CI's node); otherwise
// scripts/elasticsearch starts a node of its own in a test directory, and
// teardown stops it only if this setup started it.
// Tests read the URL with `inject('esUrl')` (or process.env.ES_URL).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    esUrl: string;
  }
}

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, '../../scripts/elasticsearch');

/** Where the test node lives: under /var/lib as root (the ES user must reach it), else under tmp. */
export function testNodeDir(): string {
  if (process.env.DROPTRACE_ES_TEST_DIR) return process.env.DROPTRACE_ES_TEST_DIR;
  return process.getuid?.() === 0 ? '/var/lib/droptrace/elasticsearch/vitest' : join(tmpdir(), 'droptrace-es-vitest');
}

async function script(...args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const r = await run(SCRIPT, args, { env: { ...process.env, CI: 'true' }, timeout: 600_000, maxBuffer: 16 << 20 });
    return { stdout: r.stdout, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    if (args[0] === 'status') return { stdout: err.stdout ?? '', code: err.code ?? 1 };
    throw new Error(`scripts/elasticsearch ${args.join(' ')} failed:\n${err.stderr ?? String(e)}`);
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const given = process.env.ES_URL;
  if (given) {
    project.provide('esUrl', given);
    return;
  }
  const dir = testNodeDir();
  const wasRunning = (await script('status', '--dir', dir)).code === 0;
  const started = Date.now();
  const { stdout } = await script('start', '--dir', dir);
  const url = stdout.trim().split('\n').pop()!;
  if (!wasRunning) console.log(`[es] Elasticsearch at ${url} (started in ${((Date.now() - started) / 1000).toFixed(1)} s, dir ${dir})`);
  process.env.ES_URL = url;
  project.provide('esUrl', url);
  if (wasRunning) return;
  return async () => {
    await script('stop', '--dir', dir);
  };
}
