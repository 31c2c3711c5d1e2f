import { describe, it, expect } from 'vitest';
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { RotatingFileSink } from '../../../src/sinks/file/index.js';
import { SinkError } from '../../../src/errors.js';
import { readAll, record, tempDir } from './helpers.js';

const open = (dir: string, o: Partial<ConstructorParameters<typeof RotatingFileSink>[0]> = {}) =>
  new RotatingFileSink({ dir, baseName: 'events', flushIntervalMs: 0, ...o });

describe('RotatingFileSink: size rotation', () => {
  it('loses no record and splits none under load; no file exceeds maxBytes', async () => {
    const dir = tempDir();
    const maxBytes = 64 * 1024;
    const s = open(dir, { maxBytes, keep: 1000, bufferBytes: 8192 });
    const N = 50_000;
    // Varying sizes so boundaries fall everywhere; some non-ASCII to make bytes ≠ chars.
    for (let i = 0; i < N; i++) s.write(record(i, 'droptrace.drops', (i * 7919) % 300));
    s.write({ ...record(N), host: { name: 'hôte-ü-日本' } });
    await s.close();
    const { seqs, perFile } = readAll(dir);
    expect(seqs.length).toBe(N + 1);
    expect(new Set(seqs).size).toBe(N + 1);
    expect(perFile.size).toBeGreaterThan(10);
    for (const name of perFile.keys()) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(maxBytes);
    // Order is preserved across files: rotated ones by number, then the live one.
    const ordered = [...perFile.keys()].filter((n) => n !== 'events.ndjson').concat('events.ndjson');
    const inOrder = ordered.flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l).droptrace.seq));
    expect(inOrder).toEqual([...Array(N + 1).keys()]);
    const st = s.stats();
    expect(st.records).toBe(N + 1);
    expect(st.rotations).toBe(perFile.size - 1);
    expect(st.errors).toBe(0);
    expect(st.bytes).toBe([...perFile.keys()].reduce((a, n) => a + statSync(join(dir, n)).size, 0));
  });

  it.each([256 * 1024, 1024])('puts a record larger than maxBytes whole into its own file (batch buffer %i)', async (bufferBytes) => {
    const dir = tempDir();
    const s = open(dir, { maxBytes: 500, bufferBytes });
    s.write(record(0));
    s.write(record(1, 'droptrace.drops', 2000));
    s.write(record(2));
    await s.close();
    const { seqs, perFile } = readAll(dir);
    expect(seqs).toEqual([0, 1, 2]);
    expect([...perFile.values()]).toEqual([1, 1, 1]);
    expect(readFileSync(join(dir, 'events-000002.ndjson'), 'utf8').length).toBeGreaterThan(2000);
  });
});

describe('RotatingFileSink: time rotation, keep, restart', () => {
  it('rotates a non-empty file once maxAgeMs has passed on the injected clock', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const s = open(dir, { maxAgeMs: 60_000, clock: () => now });
    s.write(record(0));
    now += 59_999;
    s.write(record(1));
    await s.flush();
    expect(s.stats().rotations).toBe(0);
    now += 1;
    s.write(record(2)); // the old file is closed before this record joins
    await s.flush();
    expect(s.stats().rotations).toBe(1);
    expect(readAll(dir).perFile).toEqual(new Map([['events-000001.ndjson', 2], ['events.ndjson', 1]]));
    // flush() alone rotates an old file too (the run loop's timer does this when idle)…
    now += 60_000;
    await s.flush();
    expect(s.stats().rotations).toBe(2);
    // …but an empty file is never rotated.
    now += 600_000;
    await s.flush();
    expect(s.stats().rotations).toBe(2);
    await s.close();
  });

  it('keeps only the newest N rotated files', async () => {
    const dir = tempDir();
    const s = open(dir, { maxBytes: 300, keep: 3 });
    for (let i = 0; i < 20; i++) s.write(record(i));
    await s.close();
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['events-000017.ndjson', 'events-000018.ndjson', 'events-000019.ndjson', 'events.ndjson']);
    expect(readAll(dir).seqs).toEqual([16, 17, 18, 19]);
    expect(s.stats().deleted).toBe(16);
  });

  it('appends to the live file after a restart and continues the numbering', async () => {
    const dir = tempDir();
    let s = open(dir, { maxBytes: 300 });
    for (let i = 0; i < 5; i++) s.write(record(i));
    await s.close();
    const before = readdirSync(dir).sort();
    expect(before).toContain('events-000004.ndjson');
    s = open(dir, { maxBytes: 300 });
    for (let i = 5; i < 10; i++) s.write(record(i));
    await s.close();
    const { seqs } = readAll(dir);
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The first record of the second run went into the file the first run left open.
    expect(readFileSync(join(dir, 'events-000005.ndjson'), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l).droptrace.seq)).toEqual([4]);
    expect(readdirSync(dir).filter((n) => n.startsWith('events-')).length).toBe(9);
  });

  it('counts an unserializable record as an error and keeps going', async () => {
    const dir = tempDir();
    const s = open(dir);
    const bad = record(1) as unknown as { droptrace: Record<string, unknown> };
    bad.droptrace.big = 1n;
    s.write(record(0));
    s.write(bad as never);
    s.write(record(2));
    await s.close();
    expect(readAll(dir).seqs).toEqual([0, 2]);
    expect(s.stats()).toMatchObject({ records: 2, errors: 1, dropped: 1 });
  });

  it('buffers until flush() or the batch size', async () => {
    const dir = tempDir();
    const s = open(dir, { bufferBytes: 1_000_000 });
    s.write(record(0));
    expect(readFileSync(join(dir, 'events.ndjson'), 'utf8')).toBe('');
    await s.flush();
    expect(readAll(dir).seqs).toEqual([0]);
    await s.close();
  });
});

describe('RotatingFileSink: gzip', () => {
  it('compresses rotated files, removing the plain file only after the .gz is complete', async () => {
    const dir = tempDir();
    const s = open(dir, { maxBytes: 4096, gzip: true, keep: 1000 });
    const N = 2000;
    for (let i = 0; i < N; i++) s.write(record(i));
    await s.flush();
    await s.compressionIdle();
    const names = readdirSync(dir);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(names.filter((n) => /^events-\d+\.ndjson$/.test(n))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.gz')).length).toBe(s.stats().rotations);
    expect(s.stats().compressed).toBe(s.stats().rotations);
    for (const n of names) expect(statSync(join(dir, n)).mode & 0o777).toBe(0o600);
    await s.close();
    const { seqs } = readAll(dir);
    expect(seqs.length).toBe(N);
    expect(new Set(seqs).size).toBe(N);
  });

  it('on restart, drops a stale .gz.tmp, compresses leftover plain files and removes plain copies of complete .gz', async () => {
    const dir = tempDir();
    let s = open(dir, { maxBytes: 300 });
    for (let i = 0; i < 4; i++) s.write(record(i));
    await s.close(); // events-000001..3 plain, gzip was off
    writeFileSync(join(dir, 'events-000001.ndjson.gz.tmp'), 'partial', { mode: 0o600 });
    s = open(dir, { maxBytes: 300, gzip: true });
    await s.compressionIdle();
    await s.close();
    expect(readdirSync(dir).sort()).toEqual(['events-000001.ndjson.gz', 'events-000002.ndjson.gz', 'events-000003.ndjson.gz', 'events.ndjson']);
    expect(readAll(dir).seqs).toEqual([0, 1, 2, 3]);
  });
});

describe('RotatingFileSink: safety', () => {
  it('creates a 0700 directory and 0600 files', async () => {
    const dir = join(tempDir(), 'a', 'out');
    const s = open(dir, { maxBytes: 300 });
    for (let i = 0; i < 3; i++) s.write(record(i));
    await s.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const n of readdirSync(dir)) expect(statSync(join(dir, n)).mode & 0o777).toBe(0o600);
  });

  it('uses an existing 0755 directory as it is (never chmods what it did not create); its own live file is 0600', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'events.ndjson'), '');
    chmodSync(join(dir, 'events.ndjson'), 0o644);
    const s = open(dir);
    await s.close();
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'events.ndjson')).mode & 0o777).toBe(0o600);
  });

  it('refuses a world-writable (1777) directory with the reason and the fix, and leaves its mode alone', () => {
    const dir = tempDir();
    chmodSync(dir, 0o1777);
    expect(() => open(dir)).toThrow(/world-writable \(mode 01777\)/);
    expect(statSync(dir).mode & 0o7777).toBe(0o1777);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a planted symlink as the live file, and leaves its target alone', () => {
    const dir = tempDir();
    const target = join(tempDir(), 'victim');
    writeFileSync(target, 'precious\n');
    symlinkSync(target, join(dir, 'events.ndjson'));
    expect(() => open(dir)).toThrow(SinkError);
    expect(() => open(dir)).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });

  it('refuses a symlinked output directory', () => {
    const real = tempDir();
    const link = join(tempDir(), 'out');
    symlinkSync(real, link);
    expect(() => open(link)).toThrow(/output directory .* is a symbolic link/);
    expect(readdirSync(real)).toEqual([]);
  });

  it('refuses a planted hard link and a non-directory output path', () => {
    const dir = tempDir();
    const other = join(tempDir(), 'victim');
    writeFileSync(other, 'x');
    linkSync(other, join(dir, 'events.ndjson'));
    expect(() => open(dir)).toThrow(/hard links/);
    const file = join(tempDir(), 'plain');
    writeFileSync(file, '');
    expect(() => open(file)).toThrow(/not a directory/);
  });

  it.skipIf(process.geteuid?.() !== 0)('refuses a directory owned by another user (root only)', () => {
    const dir = tempDir();
    chownSync(dir, 65534, 65534);
    expect(() => open(dir)).toThrow(/owned by uid 65534/);
  });

  it('stops rotating into a directory swapped for a symlink, and counts the error', async () => {
    const parent = tempDir();
    const dir = join(parent, 'out');
    mkdirSync(dir);
    const errors: Error[] = [];
    const s = open(dir, { maxBytes: 300, onError: (e) => errors.push(e) });
    s.write(record(0));
    await s.flush();
    const { renameSync } = await import('node:fs');
    renameSync(dir, join(parent, 'moved'));
    symlinkSync(tempDir(), dir);
    for (let i = 1; i < 50; i++) s.write(record(i));
    expect(errors.some((e) => /became a symbolic link/.test(e.message))).toBe(true);
    // One failure until the next flush/tick retries, not one per record.
    expect(s.stats().errors).toBe(1);
    await s.flush();
    s.write(record(50));
    expect(s.stats().errors).toBe(2);
    expect(s.stats().dropped).toBe(0);
    await s.close();
    expect(existsSync(join(parent, 'moved', 'events-000001.ndjson'))).toBe(false);
  });
});

describe('RotatingFileSink: gzip with pruning and shutdown', () => {
  it('prunes files that were queued or being compressed without leaving strays', async () => {
    const dir = tempDir();
    const s = open(dir, { maxBytes: 2048, gzip: true, keep: 2 });
    for (let i = 0; i < 3000; i++) s.write(record(i));
    await s.flush();
    await s.compressionIdle();
    await s.close();
    const names = readdirSync(dir).sort();
    expect(names.filter((n) => n !== 'events.ndjson').every((n) => /^events-\d{6}\.ndjson\.gz$/.test(n))).toBe(true);
    expect(names.length).toBe(3);
    const { seqs } = readAll(dir);
    expect(seqs[seqs.length - 1]).toBe(2999);
    expect(seqs).toEqual([...Array(seqs.length).keys()].map((k) => 3000 - seqs.length + k));
    expect(s.stats().errors).toBe(0);
  });

  it('close() aborts a running compression, keeping the plain file for the next start', async () => {
    const dir = tempDir();
    const s = open(dir, { maxBytes: 8 * 1024 * 1024, gzip: true, bufferBytes: 1 << 20 });
    for (let i = 0; i < 40_000; i++) s.write(record(i, 'droptrace.drops', 200));
    s.write(record(40_000));
    await s.close();
    const names = readdirSync(dir);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // Every record is still there, in a plain or a complete .gz file.
    expect(readAll(dir).seqs.length).toBe(40_001);
  });
});

describe('RotatingFileSink: resume after a crash, timer', () => {
  it('cuts a torn last line before appending, so no line mixes two records', async () => {
    const dir = tempDir();
    const whole = JSON.stringify(record(0)) + '\n';
    writeFileSync(join(dir, 'events.ndjson'), whole + JSON.stringify(record(1)).slice(0, 40), { mode: 0o600 });
    const s = open(dir);
    s.write(record(2));
    await s.close();
    expect(readAll(dir).seqs).toEqual([0, 2]);
    expect(s.stats().repaired_bytes).toBe(40);
  });

  it('a live file with no newline at all is emptied', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'events.ndjson'), 'x'.repeat(200_000), { mode: 0o600 });
    const s = open(dir);
    s.write(record(1));
    await s.close();
    expect(readAll(dir).seqs).toEqual([1]);
  });

  it('writes the batch on its timer without an explicit flush', async () => {
    const dir = tempDir();
    const s = open(dir, { flushIntervalMs: 20 });
    s.write(record(0));
    expect(readFileSync(join(dir, 'events.ndjson'), 'utf8')).toBe('');
    // Poll for the timer's write (no fixed wait: a loaded machine may fire it late).
    const t0 = Date.now();
    while (readFileSync(join(dir, 'events.ndjson'), 'utf8') === '' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    expect(readAll(dir).seqs).toEqual([0]);
    await s.close();
    s.write(record(1));
    expect(s.stats()).toMatchObject({ records: 1, dropped: 1 });
  });
});
