import { describe, it, expect } from 'vitest';
import { SinkSet } from '../../../src/sinks/fanout/sink-set.js';
import type { EcsRecord } from '../../../src/record/ecs.js';
import type { Sink } from '../../../src/sinks/sink.js';

const rec = (n: number): EcsRecord => ({
  '@timestamp': '2024-01-01T00:00:00.000Z',
  event: { kind: 'metric', category: ['network'], action: 'packet-dropped', dataset: 'droptrace.flows' },
  droptrace: { id: `r${n}`, count: n },
});

class MemSink implements Sink {
  readonly got: EcsRecord[] = [];
  flushed = 0;
  closed = 0;
  constructor(readonly name: string, private readonly fail: { write?: (r: EcsRecord) => boolean; flush?: 'reject' | 'throw'; close?: 'reject' | 'throw' } = {}) {}
  write(r: EcsRecord): void {
    if (this.fail.write?.(r)) throw new Error(`${this.name} cannot write ${r.droptrace.id}`);
    this.got.push(r);
  }
  flush(): Promise<void> {
    this.flushed++;
    if (this.fail.flush === 'throw') throw new Error(`${this.name} flush threw`);
    return this.fail.flush === 'reject' ? Promise.reject(new Error(`${this.name} flush rejected`)) : Promise.resolve();
  }
  close(): Promise<void> {
    this.closed++;
    if (this.fail.close === 'throw') throw new Error(`${this.name} close threw`);
    return this.fail.close === 'reject' ? Promise.reject(new Error(`${this.name} close rejected`)) : Promise.resolve();
  }
  stats(): Record<string, number> {
    return { written: this.got.length };
  }
}

describe('SinkSet', () => {
  it('every record reaches every sink, in order', () => {
    const a = new MemSink('a');
    const b = new MemSink('b');
    const set = new SinkSet([a, b]);
    for (let i = 0; i < 5; i++) set.write(rec(i));
    expect(a.got.map((r) => r.droptrace.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(b.got).toEqual(a.got);
    expect(set.records).toBe(5);
  });

  it('a sink failing on a record affects neither the other sinks nor later records; failures are counted per sink', () => {
    const errors: Array<[string, string]> = [];
    const bad = new MemSink('bad', { write: (r) => Number(r.droptrace.count) % 2 === 1 });
    const good = new MemSink('good');
    const set = new SinkSet([bad, good], (s, e) => errors.push([s, (e as Error).message]));
    for (let i = 0; i < 6; i++) set.write(rec(i));
    expect(good.got).toHaveLength(6);
    expect(bad.got.map((r) => r.droptrace.count)).toEqual([0, 2, 4]);
    expect(errors).toEqual([['bad', 'bad cannot write r1'], ['bad', 'bad cannot write r3'], ['bad', 'bad cannot write r5']]);
    expect(set.stats()).toEqual({ bad: { written: 3, write_failures: 3 }, good: { written: 6 } });
  });

  it('flush and close reach every sink even when one rejects', async () => {
    const errors: string[] = [];
    const a = new MemSink('a', { flush: 'reject', close: 'reject' });
    const b = new MemSink('b');
    const set = new SinkSet([a, b], (s) => errors.push(s));
    await expect(set.flush()).resolves.toBeUndefined();
    await expect(set.close()).resolves.toBeUndefined();
    expect([a.flushed, b.flushed, a.closed, b.closed]).toEqual([1, 1, 1, 1]);
    expect(errors).toEqual(['a', 'a']);
  });

  it('flush and close reach every sink even when one throws instead of rejecting', async () => {
    const errors: string[] = [];
    const a = new MemSink('a', { flush: 'throw', close: 'throw' });
    const b = new MemSink('b');
    const set = new SinkSet([a, b], (s) => errors.push(s));
    await expect(set.flush()).resolves.toBeUndefined();
    await expect(set.close()).resolves.toBeUndefined();
    expect([b.flushed, b.closed]).toEqual([1, 1]);
    expect(errors).toEqual(['a', 'a']);
  });

  it('no sinks: records are still counted', async () => {
    const set = new SinkSet([]);
    set.write(rec(1));
    await set.flush();
    await set.close();
    expect(set.records).toBe(1);
    expect(set.stats()).toEqual({});
  });
});
