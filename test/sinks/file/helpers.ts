import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { EcsRecord } from '../../../src/record/ecs.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'droptrace-file-'));
}

export function record(i: number, dataset: EcsRecord['event']['dataset'] = 'droptrace.drops', pad = 0): EcsRecord {
  return {
    '@timestamp': new Date(1_700_000_000_000 + i).toISOString(),
    event: { kind: 'event', category: ['network'], action: 'packet-dropped', dataset, reason: 'NETFILTER_DROP' },
    source: { ip: '10.0.0.1', port: 1000 + (i % 50000) },
    destination: { ip: '10.0.0.2', port: 80 },
    droptrace: { id: `r${i}`, seq: i, ...(pad ? { pad: 'x'.repeat(pad) } : {}) },
  };
}

/** Every line of every file of `base` in `dir` (gz decompressed), parsed; throws on a torn line. */
export function readAll(dir: string, base = 'events'): { seqs: number[]; perFile: Map<string, number> } {
  const seqs: number[] = [];
  const perFile = new Map<string, number>();
  for (const name of readdirSync(dir).sort()) {
    if (!name.startsWith(base) || name.endsWith('.tmp')) continue;
    const raw = name.endsWith('.gz') ? gunzipSync(readFileSync(join(dir, name))).toString() : readFileSync(join(dir, name), 'utf8');
    if (raw.length > 0 && !raw.endsWith('\n')) throw new Error(`${name} ends mid-line`);
    const lines = raw.split('\n').slice(0, -1);
    for (const l of lines) seqs.push((JSON.parse(l) as { droptrace: { seq: number } }).droptrace.seq);
    perFile.set(name, lines.length);
  }
  return { seqs, perFile };
}
