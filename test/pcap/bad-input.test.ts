// Bad input: every case is a clear per-file error or a counted skip, never a
// crash (exit 70) or a hang, and what could be read is still analysed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Conversation, pcapFile, pcapngFile } from './helpers/craft.js';
import { runDroptrace } from '../helpers/droptrace-process.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'droptrace-bad-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small lossy conversation: 1 lost segment, 1 retransmission. */
function conv(): Conversation {
  const a = new Conversation({ ip: '10.8.0.1', port: 41000 }, { ip: '10.8.0.2', port: 80 });
  a.seg(true, 100, undefined, 'S').seg(false, 900, 101, 'SA').seg(true, 101, 901, 'A')
    .seg(true, 101, 901, 'AP', { len: 500 })
    .seg(true, 1101, 901, 'AP', { len: 500 }) // 601..1101 never captured
    .seg(false, 901, 601, 'A')
    .seg(true, 601, 901, 'AP', { len: 500, dtUs: 300_000 })
    .seg(false, 901, 1601, 'A');
  return a;
}

async function run(...args: string[]) {
  const r = await runDroptrace(['pcap', '--json', ...args], { env: { DROPTRACE_CONFIG: '' }, timeoutMs: 30_000 });
  const recs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { ...r, recs, stats: recs.filter((x) => x.event.action === 'pcap-file'), flows: recs.filter((x) => x.event.dataset === 'droptrace.flows') };
}

const write = (name: string, b: Buffer | string) => {
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
};
const lossCounts = (flows: Array<Record<string, any>>) => flows.map((f) => `${f.event.action}=${f.droptrace.count}`).sort();

describe('bad input', () => {
  let good: string;
  let goodCounts: string[];
  beforeAll(async () => {
    good = write('good.pcap', pcapFile(conv().toFrames()));
    const r = await run(good);
    expect(r.code, r.stderr).toBe(0);
    goodCounts = lossCounts(r.flows);
    expect(goodCounts).toEqual(['tcp-lost-segment=1', 'tcp-retransmit=1']);
  });

  it('a file that is not a capture', async () => {
    const r = await run(write('notes.txt', 'hello, this is not a capture file\n'));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/notes\.txt: not a pcap or pcapng file \(starts with 0x68656c6c\)/);
    expect(r.stats[0].event.outcome).toBe('failure');
  });

  it('a 0-byte file, a FIFO, a directory of nothing, a missing file', async () => {
    expect((await run(write('empty.pcap', ''))).stderr).toMatch(/empty\.pcap: is empty \(0 bytes\)/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const f = await run(fifo);
    expect(f.code).toBe(6);
    expect(f.stderr).toMatch(/fifo: is a FIFO/);
    const d = join(dir, 'nothing');
    mkdirSync(d);
    const e = await run(d);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/holds no files/);
    const m = await run(join(dir, 'missing.pcap'));
    expect(m.code).toBe(6);
    expect(m.stderr).toMatch(/missing\.pcap: no such file/);
  });

  it('a header cut short, a bad version', async () => {
    const r = await run(write('short.pcap', pcapFile([]).subarray(0, 10)));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/incomplete capture file header \(10 bytes\)/);
    const v = pcapFile(conv().toFrames());
    v.writeUInt16LE(7, 4);
    const r2 = await run(write('version.pcap', v));
    expect(r2.stderr).toMatch(/unsupported pcap version 7\.4/);
  });

  it('a giant record: an error at its offset, the packets before it analysed, memory not spent on it', async () => {
    const ok = pcapFile(conv().toFrames());
    const giant = Buffer.alloc(16);
    giant.writeUInt32LE(0x7ffffff0, 8);
    giant.writeUInt32LE(0x7ffffff0, 12);
    const r = await run(write('giant.pcap', Buffer.concat([ok, giant, Buffer.alloc(1000)])));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(new RegExp(`giant\\.pcap: record with captured length 2147483632 \\(> 262144\\) at byte ${ok.length}`));
    expect(lossCounts(r.flows)).toEqual(goodCounts);
  });

  it('zero-length records are counted and skipped', async () => {
    const frames = conv().toFrames();
    frames.splice(3, 0, { tsUs: frames[2].tsUs, bytes: Buffer.alloc(0) });
    const r = await run(write('zero.pcap', pcapFile(frames)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stats[0].droptrace.pcap.zero_length).toBe(1);
    expect(lossCounts(r.flows)).toEqual(goodCounts);
  });

  it('a file still being written (last record incomplete): analysed, the partial record counted', async () => {
    const full = pcapFile(conv().toFrames());
    const r = await run(write('growing.pcap', full.subarray(0, full.length - 7)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stats[0].droptrace.pcap.truncated_tail_bytes).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/1 incomplete last record/);
    // The last packet (an ACK) is missing: the loss before it is all there.
    expect(lossCounts(r.flows)).toEqual(goodCounts);
  });

  it('pcapng: a block length pointing past the end is an incomplete last block; an invalid one is an error', async () => {
    const ng = pcapngFile([{ linktype: 1 }], conv().toFrames());
    const past = Buffer.from(ng);
    // The last block's length field: make it claim more than the file holds.
    const lastLen = past.readUInt32LE(past.length - 4);
    past.writeUInt32LE(lastLen + 4096, past.length - lastLen + 4);
    const r = await run(write('past.pcapng', past));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stats[0].droptrace.pcap.truncated_tail_bytes).toBe(lastLen);
    const bad = Buffer.from(ng);
    bad.writeUInt32LE(13, 28 + 4); // the first interface block's length (after the 28-byte SHB)
    const r2 = await run(write('invalid.pcapng', bad));
    expect(r2.code).toBe(6);
    expect(r2.stderr).toMatch(/pcapng block of type 0x1 with invalid length 13 at byte 28/);
  });

  it('a cut gzip file: the data it holds is analysed, then a clear error', async () => {
    const gz = gzipSync(pcapFile(conv().toFrames()));
    const r = await run(write('cut.pcap.gz', gz.subarray(0, gz.length - 12)));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/cut\.pcap\.gz: gzip: /);
  });

  it('one bad file among good ones: the good ones are analysed, exit 6', async () => {
    const r = await run(good, write('bad2.txt', 'nope nope nope nope nope nope'), good.replace('good', 'good-copy'));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/bad2\.txt: not a pcap/);
    expect(r.stderr).toMatch(/good-copy\.pcap: no such file/);
    expect(lossCounts(r.flows)).toEqual(goodCounts);
  });

  it('more connections than --pcap-max-connections: evicted and counted', async () => {
    const frames = [0, 1, 2].flatMap((i) => {
      const a = new Conversation({ ip: '10.8.1.1', port: 42000 + i }, { ip: '10.8.1.2', port: 80 }, 1_700_000_000_000_000 + i * 10_000);
      return a.seg(true, 1, undefined, 'S').seg(false, 1, 2, 'SA').toFrames();
    }).sort((x, y) => x.tsUs - y.tsUs);
    const r = await run('--pcap-max-connections', '2', write('many.pcap', pcapFile(frames)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stats[0].droptrace.pcap.connections_evicted).toBe(1);
    expect(r.stderr).toMatch(/1 connections evicted/);
  });

  it('a corrupt state file (tcpdump -z form): reported, replaced, the file still analysed', async () => {
    const state = join(dir, 'state');
    const cfg = write('cfg.yaml', `pcap:\n  state-dir: ${state}\n`);
    const f = write('dump07', pcapFile(conv().toFrames()));
    const first = await runDroptrace(['pcap', '--json', f], { env: { DROPTRACE_CONFIG: cfg } });
    expect(first.code, first.stderr).toBe(0);
    const m = /state: 1 connections carried to the next file \((.*)\)/.exec(first.stderr);
    expect(m, first.stderr).not.toBeNull();
    writeFileSync(m![1], '{"version":1,"lastTsUs":');
    const g = write('dump08', pcapFile(conv().toFrames().map((x) => ({ ...x, tsUs: x.tsUs + 5_000_000 }))));
    const r = await runDroptrace(['pcap', '--json', g], { env: { DROPTRACE_CONFIG: cfg } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/state file .* is corrupt; starting without carried state/);
    expect(r.stderr).toMatch(/state: 1 connections carried/);
  });
});

