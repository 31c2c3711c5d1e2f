import { describe, it, expect } from 'vitest';
import { WindowAssembler, type WindowDump, type WindowConsumer } from '../../src/aggregate/window.js';
import type { MapEntry } from '../../src/decode/wire.js';

const e = (n: number): MapEntry => ({ map: 'or', keys: [BigInt(n)], count: n, total: 0 });

describe('WindowAssembler with a whole-window callback', () => {
  it('groups the entries between a flush marker and its end marker', () => {
    const got: WindowDump[] = [];
    const w = new WindowAssembler((d) => got.push(d));
    w.begin(7, 1000, false);
    w.entry(e(1));
    w.entry(e(2));
    expect(got).toEqual([]);
    w.end();
    expect(got).toEqual([{ window: 7, closedAtNs: 1000, final: false, entries: [e(1), e(2)] }]);
  });

  it('an empty window is still a window', () => {
    const got: WindowDump[] = [];
    const w = new WindowAssembler((d) => got.push(d));
    w.begin(0, 5, false);
    w.end();
    expect(got).toEqual([{ window: 0, closedAtNs: 5, final: false, entries: [] }]);
  });

  it('a flush without its end marker is closed by the next flush', () => {
    const got: WindowDump[] = [];
    const w = new WindowAssembler((d) => got.push(d));
    w.begin(1, 10, false);
    w.entry(e(1));
    w.begin(2, 20, true);
    w.entry(e(2));
    w.end();
    expect(got.map((d) => [d.window, d.final, d.entries.length])).toEqual([[1, false, 1], [2, true, 1]]);
  });

  it('counts outside a flush are bpftrace\'s exit print of our maps: the final window, from the window being counted, until end()', () => {
    const got: WindowDump[] = [];
    let now = 1000;
    const w = new WindowAssembler((d) => got.push(d), () => now);
    w.begin(6, 10, false, 7);
    w.end();
    now = 2500;
    w.entry(e(2));
    w.total('td', 5);
    w.entry(e(3));
    expect(got).toHaveLength(1);
    w.end();
    expect(got[1]).toEqual({ window: 7, closedAtNs: 2500, final: true, entries: [e(2), e(3)] });
    expect(w.stray).toBe(0);
  });

  it('before any flush the final window is window 0 (a tracer stopped within its first interval)', () => {
    const got: WindowDump[] = [];
    const w = new WindowAssembler((d) => got.push(d), () => 77);
    w.entry(e(1));
    w.end();
    expect(got).toEqual([{ window: 0, closedAtNs: 77, final: true, entries: [e(1)] }]);
  });

  it('an end marker without a flush does nothing; end twice closes once', () => {
    const got: WindowDump[] = [];
    const w = new WindowAssembler((d) => got.push(d));
    w.end();
    w.begin(3, 30, false);
    w.end();
    w.end();
    expect(got).toHaveLength(1);
  });
});

describe('WindowAssembler with a streaming consumer', () => {
  it('passes begin/add/end through in order, holding nothing', () => {
    const calls: string[] = [];
    const c: WindowConsumer = {
      begin: (window, closedAt, final) => calls.push(`begin ${window} ${closedAt} ${final}`),
      add: (x) => calls.push(`add ${x.count}`),
      end: () => calls.push('end'),
    };
    const w = new WindowAssembler(c, () => 9);
    w.entry(e(9));
    w.begin(4, 40, false);
    w.entry(e(1));
    w.entry(e(2));
    w.begin(5, 50, true);
    w.entry(e(3));
    w.end();
    w.end();
    // The entry before any flush opened a final window (a restarted tracer's exit print), closed by the next flush.
    expect(calls).toEqual(['begin 0 9 true', 'add 9', 'end', 'begin 4 40 false', 'add 1', 'add 2', 'end', 'begin 5 50 true', 'add 3', 'end']);
    expect(w.stray).toBe(0);
  });
});
