#!/usr/bin/env node
// File sink throughput: RotatingFileSink.write(record) vs a bare fs.writeSync
// of the same records pre-serialized, one run, interleaved, median of ≥5.
//   npm run build && node scripts/bench-file.mjs [--records N] [--repeats R]
// Cases:
//   bare-batched   writeSync of pre-serialized lines joined into 256 KiB batches (the I/O floor)
//   bare-per-line  one writeSync per pre-serialized line (what an unbuffered sink would do)
//   stringify      JSON.stringify alone, no I/O (the part of the sink cost the record shape sets)
//   sink           RotatingFileSink.write(record): stringify + byte count + batch + rotation (64 MiB)
//   sink+gzip      the same with gzip of rotated files in the background
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RotatingFileSink } from '../dist/sinks/file/index.js';
import { median } from './bench-lib.mjs';

const { values } = parseArgs({ options: { records: { type: 'string', default: '300000' }, repeats: { type: 'string', default: '5' } } });
const N = Number(values.records);
const R = Math.max(5, Number(values.repeats));

// A flow record shaped like the aggregator's output (~700 bytes serialized).
const records = Array.from({ length: N }, (_, i) => ({
  '@timestamp': new Date(1_700_000_000_000 + i).toISOString(),
  event: { kind: 'metric', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.flows', reason: 'NETFILTER_DROP', start: '2024-01-01T00:00:00.000Z', end: '2024-01-01T00:00:10.000Z' },
  network: { type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' },
  source: { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) },
  destination: { ip: '10.99.0.2', port: 9000 },
  host: { name: 'bench-host' },
  observer: { ingress: { interface: { id: '2', name: 'veth0' } } },
  droptrace: {
    id: `bench-host-1700000000000-${i.toString(16)}`, count: 1 + (i % 97), bytes: 74 * (1 + (i % 97)),
    drop: { reason_code: 13, location: { address: '0xffffffff81b2c3d4', symbol: 'nft_do_chain', offset: '0x2f1', module: 'nf_tables' } },
    netns: { inode: 4026531840 }, path: 'local-in', window: { seconds: 10 },
  },
}));
const lines = records.map((r) => JSON.stringify(r) + '\n');
const totalBytes = lines.reduce((a, l) => a + Buffer.byteLength(l), 0);

const cases = {
  'bare-batched': (dir) => {
    const fd = openSync(join(dir, 'bare.ndjson'), 'a', 0o600);
    let batch = [], bytes = 0;
    for (const l of lines) {
      batch.push(l);
      bytes += l.length;
      if (bytes >= 256 * 1024) {
        writeSync(fd, batch.join(''));
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length) writeSync(fd, batch.join(''));
    closeSync(fd);
  },
  'bare-per-line': (dir) => {
    const fd = openSync(join(dir, 'bare.ndjson'), 'a', 0o600);
    for (const l of lines) writeSync(fd, l);
    closeSync(fd);
  },
  stringify: () => {
    let n = 0;
    for (const r of records) n += JSON.stringify(r).length;
    if (n === 0) throw new Error('unreachable');
  },
  // Timed: write + flush (rotations included). close() (fsync of the live
  // file, abort of a running gzip) happens once at shutdown and is left out.
  sink: async (dir) => {
    const s = new RotatingFileSink({ dir, baseName: 'events', flushIntervalMs: 0 });
    for (const r of records) s.write(r);
    await s.flush();
    return async () => {
      await s.close();
      if (s.stats().records !== N) throw new Error(`sink wrote ${s.stats().records} of ${N}`);
    };
  },
  'sink+gzip': async (dir) => {
    const s = new RotatingFileSink({ dir, baseName: 'events', flushIntervalMs: 0, gzip: true });
    for (const r of records) s.write(r);
    await s.flush();
    return () => s.close();
  },
};

const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let rep = 0; rep < R; rep++) {
  for (const [name, fn] of Object.entries(cases)) {
    const dir = mkdtempSync(join(tmpdir(), 'droptrace-bench-'));
    const t0 = performance.now();
    const after = await fn(dir);
    times[name].push(performance.now() - t0);
    if (typeof after === 'function') await after();
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = median(times['bare-batched']);
console.log(`${N} records × ${R} repeats, ${(totalBytes / N).toFixed(0)} B/record, ${(totalBytes / 1048576).toFixed(0)} MiB per run, dir ${tmpdir()}`);
console.log('case            median ms   records/s    MB/s   ÷ bare-batched time');
for (const [name, t] of Object.entries(times)) {
  const m = median(t);
  console.log(`${name.padEnd(15)} ${m.toFixed(1).padStart(9)} ${Math.round(N / (m / 1000)).toLocaleString('en').padStart(11)} ${(totalBytes / 1e6 / (m / 1000)).toFixed(0).padStart(7)}   ${(m / base).toFixed(2)}`);
}
const ns = (ms) => ((ms / N) * 1e6).toFixed(0);
console.log(`per record: stringify ${ns(median(times.stringify))} ns, bare I/O ${ns(base)} ns, sink ${ns(median(times.sink))} ns → sink overhead beyond stringify + bare I/O ${ns(median(times.sink) - median(times.stringify) - base)} ns`);
