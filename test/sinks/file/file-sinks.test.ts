import { describe, it, expect } from 'vitest';
import { readdirSync } from 'node:fs';
import { FileSinks } from '../../../src/sinks/file/index.js';
import { readAll, record, tempDir } from './helpers.js';

describe('FileSinks', () => {
  it('routes records to events/flows/stats/counters/findings files by event.dataset', async () => {
    const dir = tempDir();
    const f = new FileSinks({ dir, maxBytes: 1 << 20, maxAgeMs: 0, keep: 2, gzip: false, flushIntervalMs: 0 });
    expect(readdirSync(dir).sort()).toEqual(['counters.ndjson', 'events.ndjson', 'findings.ndjson', 'flows.ndjson', 'stats.ndjson']);
    f.write(record(0, 'droptrace.drops'));
    f.write(record(1, 'droptrace.retransmits'));
    f.write(record(2, 'droptrace.flows'));
    f.write(record(3, 'droptrace.stats'));
    f.write(record(4, 'droptrace.other' as never));
    f.write(record(5, 'droptrace.counters'));
    f.write(record(6, 'droptrace.findings'));
    await f.close();
    expect(readAll(dir, 'events').seqs).toEqual([0, 1, 4]);
    expect(readAll(dir, 'flows').seqs).toEqual([2]);
    expect(readAll(dir, 'stats').seqs).toEqual([3]);
    expect(readAll(dir, 'counters').seqs).toEqual([5]);
    expect(readAll(dir, 'findings').seqs).toEqual([6]);
    expect(f.stats()).toMatchObject({ records: 7, events_records: 3, flows_records: 1, stats_records: 1, counters_records: 1, findings_records: 1, errors: 0 });
  });
});

describe('FileSinks: refusal at start', () => {
  it('throws SinkError when any stream file is a planted symlink, writing nothing through it', async () => {
    const { symlinkSync, writeFileSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { SinkError } = await import('../../../src/errors.js');
    const dir = tempDir();
    const victim = join(tempDir(), 'victim');
    writeFileSync(victim, 'keep\n');
    symlinkSync(victim, join(dir, 'flows.ndjson'));
    expect(() => new FileSinks({ dir, flushIntervalMs: 0 })).toThrow(SinkError);
    expect(readFileSync(victim, 'utf8')).toBe('keep\n');
  });
});
