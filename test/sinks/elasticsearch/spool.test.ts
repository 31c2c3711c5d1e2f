import { describe, it, expect } from 'vitest';
import { statSync, readdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool, encodeLine, decodeLine } from '../../../src/sinks/elasticsearch/spool.js';
import type { BulkItem } from '../../../src/sinks/elasticsearch/routing.js';
import { tmp } from './records.js';

const item = (i: number, pad = 0): BulkItem => ({ index: 'logs-droptrace.drops-default', id: `id-${i}`, body: JSON.stringify({ n: i, pad: 'x'.repeat(pad) }) });
const ids = (xs: BulkItem[] | undefined) => (xs ?? []).map((x) => x.id);

describe('disk spool', () => {
  it('encodes a record as header<TAB>body and rejects torn lines', () => {
    const it1 = item(1);
    expect(decodeLine(encodeLine(it1))).toEqual(it1);
    expect(decodeLine(encodeLine(it1).slice(0, -3))).toBeUndefined();
    expect(decodeLine('garbage')).toBeUndefined();
  });

  it('is private: directory 0700, segments 0600', () => {
    const dir = join(tmp(), 'spool');
    const s = new Spool({ dir, maxBytes: 1 << 20 });
    s.open();
    s.append([item(1)]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it('ships in order across segments and remembers progress across restarts', () => {
    const dir = tmp();
    const s = new Spool({ dir, maxBytes: 1 << 20, segmentBytes: 200 });
    s.open();
    for (let i = 0; i < 10; i++) s.append([item(i)]);
    expect(s.segmentCount).toBeGreaterThan(1);
    expect(s.records).toBe(10);
    const b = s.peek(3)!;
    expect(ids(b.items)).toEqual(['id-0', 'id-1', 'id-2'].slice(0, b.items.length));
    s.commit(b.seq, b.items.length);
    const seen = ids(b.items);
    // A new process: what was committed is not sent again.
    const s2 = new Spool({ dir, maxBytes: 1 << 20, segmentBytes: 200 });
    expect(s2.open()).toBe(10 - seen.length);
    for (let b2 = s2.peek(4); b2; b2 = s2.peek(4)) {
      seen.push(...ids(b2.items));
      s2.commit(b2.seq, b2.items.length);
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `id-${i}`));
    expect(s2.records).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('puts a returned batch in front of newer records', () => {
    const s = new Spool({ dir: tmp(), maxBytes: 1 << 20 });
    s.open();
    s.append([item(5), item(6)]);
    s.prepend([item(3), item(4)]);
    const out: string[] = [];
    for (let b = s.peek(10); b; b = s.peek(10)) {
      out.push(...ids(b.items));
      s.commit(b.seq, b.items.length);
    }
    expect(out).toEqual(['id-3', 'id-4', 'id-5', 'id-6']);
  });

  it('when full, drops the oldest segments (never the one in flight) and counts their records', () => {
    const s = new Spool({ dir: tmp(), maxBytes: 3000, segmentBytes: 1000 });
    s.open();
    let dropped = 0;
    for (let i = 0; i < 5; i++) dropped += s.append([item(i, 900)]);
    const head = s.peek(1)!;
    s.busySeq = head.seq;
    for (let i = 5; i < 20; i++) dropped += s.append([item(i, 900)]);
    expect(s.bytes).toBeLessThanOrEqual(3000);
    expect(dropped + s.records).toBe(20);
    expect(dropped).toBeGreaterThan(0);
    // The busy head survived; the newest survived.
    const b = s.peek(1)!;
    expect(b.seq).toBe(head.seq);
  });

  it('skips and counts a torn last line after a crash', () => {
    const dir = tmp();
    const s = new Spool({ dir, maxBytes: 1 << 20 });
    s.open();
    s.append([item(1), item(2)]);
    const seg = readdirSync(dir).find((f) => f.endsWith('.ndjson'))!;
    appendFileSync(join(dir, seg), encodeLine(item(3)).slice(0, 20));
    const s2 = new Spool({ dir, maxBytes: 1 << 20 });
    expect(s2.open()).toBe(3);
    const b = s2.peek(10)!;
    expect(ids(b.items)).toEqual(['id-1', 'id-2']);
    s2.commit(b.seq, 2);
    expect(s2.peek(10)).toBeUndefined();
    expect(s2.corruptLines).toBe(1);
    expect(s2.records).toBe(0);
  });
});
