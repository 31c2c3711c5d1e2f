import { describe, it, expect } from 'vitest';
import { RateTracker, rankRows } from '../../../src/diagnose/counters/rates.js';
import { CATALOG, counterInfo } from '../../../src/diagnose/counters/catalog.js';
import type { CounterSample } from '../../../src/diagnose/counters/parse.js';

const NS = { inode: 4026532000, name: 'web1' };
const s = (name: string, value: number, source: CounterSample['source'] = 'netstat'): CounterSample => ({ name, source, value });

describe('RateTracker', () => {
  it('no rate on the first sample; then delta/seconds', () => {
    const t = new RateTracker();
    expect(t.update(NS, [s('TcpExt.ListenDrops', 10)], 0)).toEqual([]);
    const [r] = t.update(NS, [s('TcpExt.ListenDrops', 30)], 2000);
    expect(r).toMatchObject({ name: 'TcpExt.ListenDrops', delta: 20, rate: 10, seconds: 2, netns: NS.inode, netnsName: 'web1' });
  });

  it('with no history a rate at or above the floor is a storm; below it is not', () => {
    const t = new RateTracker();
    const floor = CATALOG.get('TcpExt.PAWSEstab')!.floor;
    t.update(NS, [s('TcpExt.PAWSEstab', 0)], 0);
    expect(t.update(NS, [s('TcpExt.PAWSEstab', floor - 1)], 1000)[0].storm).toBe(false);
    expect(t.update(NS, [s('TcpExt.PAWSEstab', floor - 1 + floor)], 2000)[0].storm).toBe(true);
  });

  it('after warm-up the baseline decides: a steady high rate is not a storm, ten times it is', () => {
    const t = new RateTracker({ warmup: 3, tauS: 10 });
    let v = 0;
    t.update(NS, [s('Tcp.RetransSegs', v, 'snmp')], 0);
    for (let i = 1; i <= 10; i++) {
      v += 1000;
      const [r] = t.update(NS, [s('Tcp.RetransSegs', v, 'snmp')], i * 1000);
      if (i > 3) expect(r.storm).toBe(false);
    }
    v += 20_000;
    const [r] = t.update(NS, [s('Tcp.RetransSegs', v, 'snmp')], 11_000);
    expect(r.baseline).toBeGreaterThan(900);
    expect(r.storm).toBe(true);
    expect(r.score).toBeGreaterThan(10);
  });

  it('an idle counter never storms', () => {
    const t = new RateTracker();
    for (let i = 0; i < 20; i++) for (const r of t.update(NS, [s('TcpExt.ListenDrops', 5)], i * 1000)) expect(r.storm).toBe(false);
  });

  it('a counter that went down (reset) gives delta 0, not a negative rate', () => {
    const t = new RateTracker();
    t.update(NS, [s('qdisc.drops', 100, 'qdisc')], 0);
    expect(t.update(NS, [s('qdisc.drops', 3, 'qdisc')], 1000)[0]).toMatchObject({ delta: 0, rate: 0 });
  });

  it('baselines survive a save/load round trip, keyed by namespace name', () => {
    const t = new RateTracker({ warmup: 1 });
    t.update(NS, [s('TcpExt.ListenDrops', 0)], 0);
    t.update(NS, [s('TcpExt.ListenDrops', 5)], 1000);
    t.update(NS, [s('TcpExt.ListenDrops', 10)], 2000);
    const b = t.baselines();
    expect([...b.keys()]).toEqual(['name:web1|TcpExt.ListenDrops||']);
    const t2 = new RateTracker({ warmup: 1 }, b);
    t2.update({ inode: 1, name: 'web1' }, [s('TcpExt.ListenDrops', 0)], 0);
    const [r] = t2.update({ inode: 1, name: 'web1' }, [s('TcpExt.ListenDrops', 5)], 1000);
    expect(r.baseline).toBeCloseTo(5, 0);
  });

  it('unwatched counters are ignored; unlisted loss-named ones get a generic line', () => {
    expect(counterInfo('TcpExt.TCPHPHits', 'netstat')).toBeUndefined();
    expect(counterInfo('TcpExt.TCPFooDrop', 'netstat')!.meaning).toMatch(/not described/);
    expect(counterInfo('MPTcpExt.AddAddrDrop', 'netstat')).toBeUndefined();
    const t = new RateTracker();
    t.update(NS, [s('TcpExt.TCPHPHits', 0)], 0);
    expect(t.update(NS, [s('TcpExt.TCPHPHits', 1e6)], 1000)).toEqual([]);
  });

  it('rankRows: storms first, then by score', () => {
    const t = new RateTracker();
    t.update(NS, [s('TcpExt.ListenDrops', 0), s('TcpExt.PAWSEstab', 0), s('Udp.NoPorts', 0, 'snmp')], 0);
    const rows = t.update(NS, [s('TcpExt.ListenDrops', 0), s('TcpExt.PAWSEstab', 5), s('Udp.NoPorts', 100, 'snmp')], 1000);
    expect(rankRows(rows).map((r) => r.name)).toEqual(['Udp.NoPorts', 'TcpExt.PAWSEstab', 'TcpExt.ListenDrops']);
  });

  it('every catalog entry has a one-line meaning and a positive floor', () => {
    for (const [name, i] of CATALOG) {
      expect(i.meaning.length, name).toBeGreaterThan(10);
      expect(i.meaning).not.toMatch(/\n/);
      expect(i.floor, name).toBeGreaterThan(0);
    }
  });
});
