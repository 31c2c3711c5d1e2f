// FlowAggregator: exact counts through top-K and both kinds of overflow,
// window bounds from the probe's window numbers, idle and shutdown finals,
// deterministic unique ids. Enrichment is real (fake kallsyms/reasons/clock).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowAggregator, type FlowAggregatorOptions } from '../../src/aggregate/flow-records.js';
import { WindowAssembler } from '../../src/aggregate/window.js';
import type { MapEntry } from '../../src/decode/wire.js';
import { decodeLine, WIRE } from '../helpers/catalog.js';
import type { EcsRecord } from '../../src/record/ecs.js';
import { fakeEnricher, ADDR, monoToIso } from '../helpers/fake-enricher.js';
import { dropKey, dropOverflowKey, sockKey, sockOverflowKey, incomingKey, incomingOverflowKey, v4Word, v6Words, type DropKeyInput } from '../helpers/probe-keys.js';
import type { FlowEndWire } from '../../src/decode/wire.js';
import { connectionKey, endReason } from '../../src/aggregate/flow-ends.js';

const S = 1_000_000_000n;
const I = 10n * S;
const P = 3n * S;
const START = 1_500_000_000n;
const TICK = 100_000_000n;
/** When the flush probe closes window w (it ticks every 100 ms). */
const closedAt = (w: number) => Number(P + BigInt(w) * I + TICK);

function aggregator(over: Partial<FlowAggregatorOptions> = {}, kallsyms?: string): FlowAggregator {
  const { enricher, clock } = fakeEnricher({ kallsyms });
  return new FlowAggregator({ enricher, clock, wire: WIRE, hostName: 'node-1', intervalNs: I, phaseNs: P, startNs: START, maxFlows: 3, idleTimeoutMs: 25_000, ...over });
}

const NETNS = 4026532301;
const DROP: DropKeyInput = {
  netns: NETNS, ifindex: 3, iif: 3, dstIn: ADDR.ipLocalDeliver, loc: ADDR.nftDoChain, l3: 4, l4: 17, reason: 12,
  sport: 5000, dport: 40101, src: '10.202.1.1', dst: '10.202.1.2',
};
const drop = (count: number, over: Partial<DropKeyInput> = {}, total = count * 60): MapEntry => ({ map: 'd', keys: dropKey({ ...DROP, ...over }), count, total, segments: 0 });
const dropOverflow = (count: number, over: Partial<DropKeyInput> = {}): MapEntry => ({ map: 'od', keys: dropOverflowKey({ ...DROP, ...over }), count, total: count * 60, segments: 0 });
const SOCK = { netns: NETNS, state: 1, ca: 4, pending: 1, l3: 4 as const, sport: 5201, dport: 46000, src: '10.2.0.1', dst: '10.2.0.2' };
const retrans = (count: number, sport = 5201, code = 1): MapEntry => ({ map: 'r', keys: sockKey({ ...SOCK, code, sport }), count, total: count * 1448, segments: count });
const retransOverflow = (count: number, code = 1): MapEntry => ({ map: 'or', keys: sockOverflowKey({ ...SOCK, code }), count, total: count * 1448, segments: count });
const INC = { netns: NETNS, l3: 4 as const, peer: '10.3.0.1', peerPort: 5001, local: '10.3.0.2', localPort: 40200 };
const incoming = (count: number, action = 1, peerPort = 5001): MapEntry => ({ map: 'i', keys: incomingKey({ ...INC, action, peerPort }), count, total: count * 1000, segments: count });
const incomingOverflow = (count: number, action = 1): MapEntry => ({ map: 'oi', keys: incomingOverflowKey({ ...INC, action }), count, total: count * 1000, segments: count });

const dt = (r: EcsRecord) => r.droptrace as Record<string, any>;
const sum = (rs: EcsRecord[]) => rs.reduce((n, r) => n + Number(dt(r).count ?? 0), 0);
const sumBytes = (rs: EcsRecord[]) => rs.reduce((n, r) => n + Number(dt(r).bytes ?? 0), 0);
const flowsOf = (rs: EcsRecord[]) => rs.filter((r) => dt(r).flow && !dt(r).flow.final);
const overflowOf = (rs: EcsRecord[]) => rs.filter((r) => dt(r).overflow);
const finalsOf = (rs: EcsRecord[]) => rs.filter((r) => dt(r).flow?.final);

function window(a: FlowAggregator, w: number, entries: MapEntry[], final = false, at = closedAt(w), to?: number): EcsRecord[] {
  return a.onWindow({ window: w, closedAtNs: at, final, to, entries });
}

describe('FlowAggregator: flow records', () => {
  it('one record per flow with the exact count and bytes, enriched like an event, window fields set', () => {
    const recs = window(aggregator(), 5, [drop(40)]);
    expect(recs).toHaveLength(1);
    const r = recs[0];
    expect(r.event).toMatchObject({ kind: 'metric', dataset: 'droptrace.flows', action: 'packet-dropped', reason: 'NETFILTER_DROP', start: monoToIso(P + 4n * I), end: monoToIso(P + 5n * I) });
    expect(r['@timestamp']).toBe(r.event.start);
    expect(r.network).toEqual({ type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' });
    expect(r.source).toEqual({ ip: '10.202.1.1', port: 5000 });
    expect(r.destination).toEqual({ ip: '10.202.1.2', port: 40101 });
    expect(r.observer).toEqual({ ingress: { interface: { id: '3' } } });
    expect(dt(r)).toMatchObject({
      count: 40, bytes: 2400, path: 'local-in', netns: { inode: NETNS },
      drop: { reason_code: 12, location: { address: '0xffffffffc0a013c4', symbol: 'nft_do_chain', offset: 0x3c4, module: 'nf_tables' } },
      window: { interval_s: 10, start_ns: String(P + 4n * I) },
    });
    expect(dt(r).flow.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(dt(r).id).toBe(`node-1-${closedAt(5)}-${dt(r).flow.id}`);
    // Per-event details don't describe a window.
    expect(dt(r).tcp).toBeUndefined();
    expect(dt(r).overflow).toBeUndefined();
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('retransmits and incoming loss flows keep their direction and actions', () => {
    const recs = window(aggregator({ maxFlows: 10 }), 2, [retrans(4), retrans(1, 5201, 2), incoming(3, 1), incoming(2, 2), incoming(1, 3)]);
    const by = (a: string) => recs.find((r) => r.event.action === a)!;
    expect(by('tcp-retransmit').network?.direction).toBe('egress');
    expect(by('tcp-retransmit').source).toEqual({ ip: '10.2.0.1', port: 5201 });
    expect(recs.filter((r) => r.event.action === 'tcp-retransmit').map((r) => r.event.reason).sort()).toEqual(['rto', 'synack']);
    for (const a of ['tcp-incoming-out-of-order', 'tcp-incoming-retransmit', 'tcp-incoming-duplicate']) {
      expect(by(a).network?.direction).toBe('ingress');
      // Lost packets travel peer → us.
      expect(by(a).source).toEqual({ ip: '10.3.0.1', port: 5001 });
      expect(by(a).destination).toEqual({ ip: '10.3.0.2', port: 40200 });
      expect(dt(by(a)).incoming).toBeUndefined();
    }
    expect(dt(by('tcp-retransmit')).tcp?.retransmits).toBeUndefined();
    expect(sum(recs)).toBe(11);
  });

  it('flows sort biggest first; unknown entries are counted and skipped', () => {
    const a = aggregator({ maxFlows: 10 });
    const recs = window(a, 1, [drop(2, { sport: 1 }), drop(9, { sport: 2 }), { map: 'zz', keys: [1n], count: 5, total: 0 }, drop(5, { sport: 3 })]);
    expect(recs.map((r) => dt(r).count)).toEqual([9, 5, 2]);
    expect(a.stats.unknownEntries).toBe(1);
    expect(a.stats.flowRecords).toBe(3);
  });
});

describe('FlowAggregator: counts are exact through top-K and overflow', () => {
  it('top-K keeps the biggest flows; the rest and the kernel overflow map of the same service sum into one overflow record naming that service', () => {
    const a = aggregator({ maxFlows: 3 });
    const entries = [...Array.from({ length: 10 }, (_, i) => drop(i + 1, { sport: 1000 + i })), dropOverflow(100)];
    const recs = window(a, 3, entries);
    const flows = flowsOf(recs);
    expect(flows.map((r) => dt(r).count)).toEqual([10, 9, 8]);
    const over = overflowOf(recs);
    expect(over).toHaveLength(1);
    const o = over[0];
    expect(dt(o).count).toBe(100 + 28);
    // 7 flows the collector evicted; the kernel's overflow entry stands for one or more.
    expect(dt(o).overflow).toEqual({ kernel_count: 100, collector_count: 28, collector_flows: 7 });
    expect(dt(o).bytes).toBe(128 * 60);
    // The service is kept (a flood from many source ports still names its target); the source side is not.
    expect(o.source).toBeUndefined();
    expect(o.destination).toEqual({ ip: '10.202.1.2', port: 40101 });
    expect(o.observer).toEqual({ ingress: { interface: { id: '3' } } });
    expect(dt(o).netns).toEqual({ inode: NETNS });
    expect(dt(o).drop).toMatchObject({ reason_code: 12, location: { symbol: 'nft_do_chain' } });
    expect(dt(o).flow).toBeUndefined();
    expect(o.event).toMatchObject({ action: 'packet-dropped', reason: 'NETFILTER_DROP', dataset: 'droptrace.flows' });
    expect(o.network).toEqual({ type: 'ipv4', transport: 'udp', iana_number: '17', direction: 'ingress' });
    expect(dt(o).path).toBe('local-in');
    expect(sum(recs)).toBe(55 + 100);
    expect(sumBytes(recs)).toBe(155 * 60);
    expect(a.stats).toMatchObject({ flowRecords: 3, overflowRecords: 1, overflowCount: 128 });
  });

  it('overflow records are split by service, action, reason, direction and path', () => {
    const a = aggregator({ maxFlows: 1 });
    const recs = window(a, 1, [
      drop(50, { sport: 1 }),
      drop(1, { sport: 2 }), // collector overflow, NETFILTER_DROP ingress local-in, port 40101
      drop(2, { sport: 3, reason: 3 }), // NO_SOCKET
      drop(3, { sport: 4, iif: 0, ifindex: 5, dstIn: 0n, loc: ADDR.output }), // egress local-out
      drop(4, { sport: 5, dstIn: ADDR.ipForward }), // forward
      drop(5, { sport: 6, dport: 53 }), // another service
      dropOverflow(7, { sport: 9 }), // kernel, same service as sport 2
      dropOverflow(8, { dst: '10.202.1.9' }), // kernel, another destination
      retrans(6), retransOverflow(5), incoming(9), incomingOverflow(11, 2),
    ]);
    const over = overflowOf(recs).map((r) => [r.event.action, r.event.reason, r.network?.direction, dt(r).path, r.destination?.ip, r.destination?.port, dt(r).count, dt(r).overflow.kernel_count]);
    expect(over).toEqual(expect.arrayContaining([
      ['packet-dropped', 'NETFILTER_DROP', 'ingress', 'local-in', '10.202.1.2', 40101, 1 + 7, 7],
      ['packet-dropped', 'NETFILTER_DROP', 'ingress', 'local-in', '10.202.1.9', 40101, 8, 8],
      ['packet-dropped', 'NETFILTER_DROP', 'ingress', 'local-in', '10.202.1.2', 53, 5, 0],
      ['packet-dropped', 'NO_SOCKET', 'ingress', 'local-in', '10.202.1.2', 40101, 2, 0],
      ['packet-dropped', 'NETFILTER_DROP', 'egress', 'local-out', '10.202.1.2', 40101, 3, 0],
      ['packet-dropped', 'NETFILTER_DROP', 'ingress', 'forward', '10.202.1.2', 40101, 4, 0],
      ['tcp-retransmit', 'rto', 'egress', 'local-out', '10.2.0.2', 46000, 6 + 5, 5],
      ['tcp-incoming-out-of-order', 'out-of-order', 'ingress', 'local-in', '10.3.0.2', 40200, 9, 0],
      ['tcp-incoming-retransmit', 'retransmit', 'ingress', 'local-in', '10.3.0.2', 40200, 11, 11],
    ]));
    expect(over).toHaveLength(9);
    expect(flowsOf(recs).map((r) => dt(r).count)).toEqual([50]);
    expect(sum(recs)).toBe(50 + 1 + 2 + 3 + 4 + 5 + 7 + 8 + 6 + 5 + 9 + 11);
    // TCP overflow records carry segments too.
    expect(overflowOf(recs).filter((r) => r.event.action !== 'packet-dropped').every((r) => dt(r).segments === dt(r).count)).toBe(true);
  });

  it('beyond maxOverflowGroups service groups, the rest go to coarse groups without flow fields: still exact', () => {
    const a = aggregator({ maxFlows: 2, maxOverflowGroups: 2 });
    const entries = Array.from({ length: 8 }, (_, i) => dropOverflow(i + 1, { dport: 1000 + i }));
    const recs = window(a, 1, entries);
    const over = overflowOf(recs);
    expect(sum(recs)).toBe(36);
    const coarse = over.filter((r) => r.destination === undefined);
    expect(coarse).toHaveLength(1);
    expect(dt(coarse[0]).netns).toBeUndefined();
    expect(over.filter((r) => r.destination !== undefined)).toHaveLength(2);
  });

  it('property: for random windows, sum out == sum in, at most maxFlows flows, kept ≥ evicted, kernel/collector split exact', () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    for (let round = 0; round < 60; round++) {
      // Mostly small windows; every tenth is a flood window of up to ~12k flows at a bound near 10k.
      const big = round % 10 === 9;
      const maxFlows = big ? 9000 + rnd(2000) : 1 + rnd(8);
      const a = aggregator({ maxFlows });
      const entries: MapEntry[] = [];
      let kernel = 0;
      const n = big ? 8000 + rnd(4000) : rnd(40);
      for (let i = 0; i < n; i++) {
        const c = 1 + rnd(rnd(2) ? 5 : 1000);
        switch (rnd(7)) {
          case 0: entries.push(drop(c, { sport: i, reason: [3, 12][rnd(2)] })); break;
          case 1: entries.push(drop(c, { l3: 6, l4: 6, src: '2001:db8::1', dst: '2001:db8::2', sport: i, iif: rnd(2) ? 0 : 4 })); break;
          case 2: entries.push(retrans(c, i, 1 + rnd(3))); break;
          case 3: entries.push(incoming(c, 1 + rnd(3), i)); break;
          case 4: entries.push(dropOverflow(c, { reason: [3, 12][rnd(2)], iif: rnd(3), dport: rnd(3) })); kernel += c; break;
          case 5: entries.push(retransOverflow(c, 1 + rnd(3))); kernel += c; break;
          default: entries.push(incomingOverflow(c, 1 + rnd(3))); kernel += c; break;
        }
      }
      const recs = window(a, 1 + round, entries, round % 5 === 4);
      const want = entries.reduce((s, e) => s + e.count, 0);
      expect(sum(recs), `round ${round}`).toBe(want);
      expect(sumBytes(recs)).toBe(entries.reduce((s, e) => s + e.total, 0));
      const flows = flowsOf(recs);
      const over = overflowOf(recs);
      expect(flows.length).toBeLessThanOrEqual(maxFlows);
      expect(flows.length + over.length + finalsOf(recs).length).toBe(recs.length);
      expect(over.reduce((s, r) => s + dt(r).overflow.kernel_count, 0)).toBe(kernel);
      const flowEntries = entries.filter((e) => !e.map.startsWith('o'));
      expect(flows.length).toBe(Math.min(maxFlows, flowEntries.length));
      // The kept flows are the biggest ones.
      const kept = flows.map((r) => dt(r).count).sort((x, y) => y - x);
      const all = flowEntries.map((e) => e.count).sort((x, y) => y - x);
      expect(kept).toEqual(all.slice(0, kept.length));
      expect(over.reduce((s, r) => s + dt(r).overflow.collector_count, 0)).toBe(all.slice(kept.length).reduce((s, c) => s + c, 0));
      for (const r of over) expect(dt(r).count).toBe(dt(r).overflow.kernel_count + dt(r).overflow.collector_count);
      expect(a.stats.overflowCount).toBe(over.reduce((s, r) => s + dt(r).count, 0));
    }
  });
});

describe('FlowAggregator: window bounds', () => {
  it('window w (as numbered by the flush probe) spans [phase + (w-1)·I, phase + w·I) and has just closed', () => {
    const a = aggregator();
    const recs = window(a, 5, [drop(1)]);
    expect(recs[0].event.start).toBe(monoToIso(P + 4n * I));
    expect(recs[0].event.end).toBe(monoToIso(P + 5n * I));
    // The window was closed by the flush at closedAt: its end is in the past, by less than a tick.
    const closed = Date.parse(monoToIso(closedAt(5)));
    expect(Date.parse(recs[0].event.end!)).toBeLessThanOrEqual(closed);
    expect(closed - Date.parse(recs[0].event.end!)).toBeLessThanOrEqual(Number(TICK / 1_000_000n));
    expect(a.lastWindow).toEqual({ startIso: monoToIso(P + 4n * I), endIso: monoToIso(P + 5n * I), final: false });
  });

  it('the phase is taken modulo the interval', () => {
    const recs = window(aggregator({ phaseNs: P + 7n * I }), 5, [drop(1)]);
    expect(recs[0].event.start).toBe(monoToIso(P + 4n * I));
  });

  it('the final window ends when the tracer stopped', () => {
    const stop = Number(P + 5n * I + 4n * S);
    const recs = window(aggregator(), 6, [drop(3)], true, stop);
    expect(recs[0].event.start).toBe(monoToIso(P + 5n * I));
    expect(recs[0].event.end).toBe(monoToIso(stop));
    expect(dt(recs[0]).window).toEqual({ interval_s: 10, start_ns: String(P + 5n * I), final: true });
  });

  it('window 0 runs from the tracer start to the first flush', () => {
    const first = Number(START + TICK);
    const recs = window(aggregator(), 0, [drop(2)], false, first);
    expect(recs[0].event.start).toBe(monoToIso(START));
    expect(recs[0].event.end).toBe(monoToIso(first));
  });

  it('window 0 starts when bpftrace attached, and never more than an interval before the first flush', () => {
    // bpftrace can take seconds to start (BTF, compile); that is not part of any window.
    const a = aggregator();
    const attachedAt = START + 3n * S;
    a.attached(attachedAt);
    const first = Number(attachedAt + TICK);
    expect(window(a, 0, [drop(1)], false, first)[0].event.start).toBe(monoToIso(attachedAt));
    const b = aggregator();
    const late = Number(START + 2n * I);
    expect(window(b, 0, [drop(1)], false, late)[0].event.start).toBe(monoToIso(BigInt(late) - I));
  });

  it('a postponed flip (userspace lagging) makes the window span up to the window the flush names', () => {
    const recs = window(aggregator(), 5, [drop(1)], false, Number(P + 7n * I + TICK), 8);
    expect(recs[0].event.start).toBe(monoToIso(P + 4n * I));
    expect(recs[0].event.end).toBe(monoToIso(P + 7n * I));
  });

  it('start ≤ end for every window, including a final one right after a boundary', () => {
    const a = aggregator();
    for (const [w, at, final] of [[0, START + TICK, false], [1, P + I + TICK, false], [2, P + 2n * I + TICK, false], [3, P + 2n * I + 2n * TICK, true]] as const) {
      const [r] = window(a, w, [drop(1)], final, Number(at));
      expect(Date.parse(r.event.start!), `window ${w}`).toBeLessThanOrEqual(Date.parse(r.event.end!));
      expect(Date.parse(r.event.end!)).toBeLessThanOrEqual(Date.parse(monoToIso(at)));
    }
  });
});

describe('FlowAggregator: the real 0.17 and 0.23 captures, end to end', () => {
  const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'aggregate');

  it.each(['drops-0.17.stdout', 'drops-0.23.stdout'])('%s: 15 drops, overflow from the kernel map, windows in the past', (f) => {
    const lines = readFileSync(join(FIX, f), 'utf8').split('\n');
    const flushes = lines.map(decodeLine).filter((m) => m.kind === 'flush') as Array<{ ts: number; from: number; final: boolean }>;
    const startNs = BigInt(flushes[0].ts) - TICK;
    // The kernel symbols of the boot the captures were made on (KASLR moves them).
    const a = aggregator({ intervalNs: S, phaseNs: 0n, startNs, maxFlows: 10 }, readFileSync(join(FIX, 'kallsyms'), 'utf8'));
    const recs: EcsRecord[] = [];
    const bounds: Array<{ start: string; end: string; closed: string }> = [];
    let closed = 0;
    const lastTs = Math.max(...flushes.map((f) => f.ts));
    const w = new WindowAssembler({
      begin: (n, at, final) => { closed = at; a.begin(n, at, final); },
      add: (e) => a.add(e),
      total: (k, n) => a.total(k, n),
      end: () => { recs.push(...a.end()); bounds.push({ start: a.lastWindow!.startIso, end: a.lastWindow!.endIso, closed: monoToIso(closed) }); },
    }, () => lastTs + 300_000_000);
    for (const l of lines) {
      const m = decodeLine(l);
      if (m.kind === 'flush') w.begin(m.from, m.ts, m.final);
      else if (m.kind === 'flush-end') w.end();
      else if (m.kind === 'map-entry') w.entry(m.entry);
      else if (m.kind === 'scalar' && m.gen !== undefined && /^t[dri]$/.test(m.name)) w.total(m.name, m.value);
    }
    // The output ended: bpftrace's exit print was the final window.
    w.end();
    recs.push(...a.finish());
    // Every event the kernel counted (@td) is in an entry: nothing unattributed.
    expect(a.stats).toMatchObject({ unattributed: 0, totalExcess: 0 });
    expect(w.stray).toBe(0);
    expect(a.stats.unknownEntries).toBe(0);
    expect(sum(recs)).toBe(15);
    const over = overflowOf(recs);
    // 127.0.0.1:40003 and the IPv6 flow did not fit maxFlows 2 in the kernel: one overflow record per service.
    expect(over.reduce((n, r) => n + dt(r).overflow.kernel_count, 0)).toBe(3);
    expect(over.every((r) => r.event.reason === 'NO_SOCKET' && r.network?.direction === 'ingress' && dt(r).path === 'local-in')).toBe(true);
    expect(over.map((r) => [r.destination?.ip, r.destination?.port, dt(r).count, dt(r).drop.location.symbol]).sort()).toEqual([['127.0.0.1', 9999, 1, '__udp4_lib_rcv'], ['::1', 9999, 2, '__udp6_lib_rcv']]);
    const flows = flowsOf(recs);
    expect(flows.map((r) => [r.source?.port, dt(r).count, dt(r).bytes])).toEqual([[40001, 5, 90], [40002, 3, 84], [40001, 4, 72]]);
    for (const r of flows) {
      expect(r.destination).toEqual({ ip: '127.0.0.1', port: 9999 });
      expect(dt(r).drop.location).toMatchObject({ symbol: '__udp4_lib_rcv', offset: 0x4bc });
    }
    // The same flow in two windows has one flow id; its final sums both.
    expect(dt(flows[0]).flow.id).toBe(dt(flows[2]).flow.id);
    const finals = finalsOf(recs);
    expect(finals.map((r) => [r.source?.port, dt(r).flow.total_count])).toEqual(expect.arrayContaining([[40001, 9], [40002, 3]]));
    for (const b of bounds) {
      expect(Date.parse(b.start)).toBeLessThanOrEqual(Date.parse(b.end));
      expect(Date.parse(b.end)).toBeLessThanOrEqual(Date.parse(b.closed));
    }
    // Aligned 1 s windows: every non-final window starts on a whole second of the phase.
    for (const b of bounds.slice(1, -1)) expect(Date.parse(b.end) - Date.parse(b.start)).toBe(1000);
  });
});

describe('FlowAggregator: final records', () => {
  it('the final window (both generations printed at exit) gives one record per flow: one id, counts summed', () => {
    const a = aggregator({ maxFlows: 10 });
    const recs = window(a, 7, [{ ...retrans(11), segments: 79 }, drop(4), { ...retrans(3), segments: 16 }, drop(2, { sport: 9 })], true);
    const flows = flowsOf(recs);
    expect(new Set(flows.map((r) => dt(r).id)).size).toBe(flows.length);
    const rtx = flows.filter((r) => r.event.action === 'tcp-retransmit');
    expect(rtx.map((r) => [dt(r).count, dt(r).segments])).toEqual([[14, 95]]);
    expect(flows.filter((r) => r.event.action === 'packet-dropped').map((r) => dt(r).count).sort()).toEqual([2, 4]);
  });

  it('a TCP flow\'s final record carries its total segments and adds no segments to sums (its template is the last window record)', () => {
    const a = aggregator({ idleTimeoutMs: 20_000, maxFlows: 10 });
    const w1 = window(a, 1, [{ ...retrans(3), segments: 5 }]);
    const w2 = window(a, 2, [{ ...retrans(2), segments: 2 }]);
    const w3 = window(a, 3, []);
    const w4 = window(a, 4, []);
    const [f] = finalsOf([...w3, ...w4]);
    expect(dt(f).flow).toMatchObject({ final: true, total_count: 5, total_segments: 7 });
    expect([dt(f).count, dt(f).bytes, dt(f).segments]).toEqual([0, 0, 0]);
    const all = [...w1, ...w2, ...w3, ...w4].filter((r) => r.event.dataset === 'droptrace.flows');
    expect(all.reduce((n, r) => n + (dt(r).segments ?? 0), 0)).toBe(7);
  });

  it('a flow idle for idleTimeout gets one final record with its totals; it adds nothing to sums', () => {
    const a = aggregator({ idleTimeoutMs: 20_000, maxFlows: 10 });
    const A = drop(5, { sport: 1 }, 500);
    const B = drop(7, { sport: 2 }, 700);
    const w1 = window(a, 1, [A, B]);
    const w2 = window(a, 2, [drop(3, { sport: 1 }, 300)]);
    expect(finalsOf([...w1, ...w2])).toEqual([]);
    const w3 = window(a, 3, []);
    // B was last seen at the end of window 1: 20 s ago now.
    const [fb] = finalsOf(w3);
    expect(finalsOf(w3)).toHaveLength(1);
    const idB = dt(w1.find((r) => r.source?.port === 2)!).flow.id;
    expect(dt(fb).flow).toEqual({
      id: idB, final: true, end_reason: 'idle', total_count: 7, total_bytes: 700,
      first_seen: monoToIso(P), last_seen: monoToIso(P + I),
    });
    expect(dt(fb).count).toBe(0);
    expect(dt(fb).bytes).toBe(0);
    expect(dt(fb).window).toBeUndefined();
    expect(fb.event).toMatchObject({ start: monoToIso(P), end: monoToIso(P + I), dataset: 'droptrace.flows' });
    expect(fb['@timestamp']).toBe(monoToIso(P + I));
    expect(fb.source).toEqual({ ip: '10.202.1.1', port: 2 });
    expect(dt(fb).id).toBe(`node-1-final-${idB}-${Date.parse(monoToIso(P + I))}`);
    const w4 = window(a, 4, []);
    expect(finalsOf(w4).map((r) => [r.source?.port, dt(r).flow.total_count, dt(r).flow.total_bytes])).toEqual([[1, 8, 800]]);
    expect(a.trackedFlows).toBe(0);
    expect(a.finish()).toEqual([]);
    expect(a.stats.finals).toBe(2);
    expect(sum([...w1, ...w2, ...w3, ...w4])).toBe(15);
  });

  it('finish() gives a final for every flow still tracked, once', () => {
    const a = aggregator({ maxFlows: 10 });
    window(a, 1, [drop(1, { sport: 1 }), retrans(2), incoming(3)]);
    const fin = a.finish();
    expect(fin).toHaveLength(3);
    expect(fin.every((r) => dt(r).flow.final && dt(r).count === 0 && dt(r).flow.key === undefined)).toBe(true);
    expect(fin.map((r) => dt(r).flow.total_count).sort()).toEqual([1, 2, 3]);
    expect(a.finish()).toEqual([]);
  });

  it('overflowed flows are not tracked; tracking is bounded at 4 × maxFlows (oldest finalized early)', () => {
    const a = aggregator({ maxFlows: 2, idleTimeoutMs: 1e9 });
    let finals = 0;
    for (let w = 1; w <= 10; w++) {
      const recs = window(a, w, [drop(10, { sport: w * 10 }), drop(9, { sport: w * 10 + 1 }), drop(1, { sport: w * 10 + 2 })]);
      finals += finalsOf(recs).length;
      expect(a.trackedFlows).toBeLessThanOrEqual(8);
    }
    expect(finals + a.finish().length).toBe(20);
  });
});

describe('FlowAggregator: ids', () => {
  const run = () => {
    const a = aggregator({ maxFlows: 2, idleTimeoutMs: 15_000 });
    const out: EcsRecord[] = [];
    out.push(...window(a, 0, [drop(1, { sport: 9 })], false, Number(START + TICK)));
    out.push(...window(a, 1, [drop(5, { sport: 1 }), drop(4, { sport: 2 }), drop(3, { sport: 3 }), dropOverflow(2), retrans(2), retransOverflow(1)]));
    out.push(...window(a, 2, [drop(6, { sport: 1 }), incoming(1), incomingOverflow(1)]));
    out.push(...window(a, 3, [drop(6, { sport: 1 })]));
    out.push(...window(a, 4, [drop(2, { sport: 1 })], true, Number(P + 3n * I + 5n * S)));
    out.push(...a.finish());
    return out;
  };

  it('are deterministic: the same input gives the same ids', () => {
    expect(run().map((r) => dt(r).id)).toEqual(run().map((r) => dt(r).id));
  });

  it('are unique across windows, overflow and final records', () => {
    const ids = run().map((r) => dt(r).id);
    expect(ids.every((x) => typeof x === 'string' && x.startsWith('node-1-'))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a flow keeps its flow.id across windows; different flows differ', () => {
    const recs = run();
    const perPort = new Map<number, Set<string>>();
    for (const r of flowsOf(recs)) {
      if (r.event.action !== 'packet-dropped') continue;
      const s = perPort.get(r.source!.port!) ?? new Set();
      s.add(dt(r).flow.id);
      perPort.set(r.source!.port!, s);
    }
    for (const s of perPort.values()) expect(s.size).toBe(1);
    const all = [...perPort.values()].map((s) => [...s][0]);
    expect(new Set(all).size).toBe(all.length);
  });
});

/** A lossy socket closing, as probes/flow-ends prints it: s* local, d* peer. */
function endOf(local: string, localPort: number, peer: string, peerPort: number, oldstate: number, ts: number, netns = NETNS): FlowEndWire {
  const v6 = local.includes(':');
  const words = (ip: string) => v6Words(ip).map((w) => w.toString(16).padStart(8, '0')).join('');
  return {
    t: 'end', ts, oldstate, retrans: 3, ooo: 0, netns, l3: v6 ? 6 : 4,
    s4: v6 ? 0 : Number(v4Word(local)), d4: v6 ? 0 : Number(v4Word(peer)),
    s6: v6 ? words(local) : '0'.repeat(32), d6: v6 ? words(peer) : '0'.repeat(32), sport: localPort, dport: peerPort,
  };
}

describe('FlowAggregator: connection ends (FIN/RST) close flows at once', () => {
  it('every flow of the closed connection (either direction, any action) gets a final record at the next flush; others wait', () => {
    const a = aggregator({ idleTimeoutMs: 3_600_000 });
    // A's retransmits toward the peer, and drops at A of the peer's segments of the same connection.
    const ackDrop = drop(2, { l4: 6, src: SOCK.dst, sport: SOCK.dport, dst: SOCK.src, dport: SOCK.sport });
    const w1 = window(a, 1, [retrans(5), ackDrop, retrans(1, 5999)]);
    expect(flowsOf(w1)).toHaveLength(3);
    // Closed (orderly) during window 2, before its flush.
    a.connectionEnded(endOf(SOCK.src, SOCK.sport, SOCK.dst, SOCK.dport, 5 /* FIN_WAIT2 */, closedAt(1) + 1000));
    const w2 = window(a, 2, []);
    const finals = finalsOf(w2);
    expect(finals).toHaveLength(2);
    for (const f of finals) expect(dt(f).flow).toMatchObject({ final: true, end_reason: 'fin' });
    expect(finals.map((f) => f.event.action).sort()).toEqual(['packet-dropped', 'tcp-retransmit']);
    expect(finals.find((f) => f.event.action === 'tcp-retransmit')!.source).toEqual({ ip: SOCK.src, port: SOCK.sport });
    expect(sum(finals)).toBe(0);
    expect(a.trackedFlows).toBe(1);
    expect(a.stats.connectionEnds).toBe(1);
  });

  it('an end printed after the flush waits for the window that holds it; RST-like closes say reset', () => {
    const a = aggregator({ idleTimeoutMs: 3_600_000 });
    window(a, 1, [incoming(4)]);
    // The receiving socket (local side) was reset while ESTABLISHED, after window 2 closed.
    a.connectionEnded(endOf(INC.local, INC.localPort, INC.peer, INC.peerPort, 1, closedAt(2) + 5));
    expect(finalsOf(window(a, 2, []))).toEqual([]);
    const f = finalsOf(window(a, 3, []));
    expect(f).toHaveLength(1);
    expect(dt(f[0]).flow).toMatchObject({ end_reason: 'reset', total_count: 4 });
  });

  it('another netns or another port pair closes nothing', () => {
    const a = aggregator({ idleTimeoutMs: 3_600_000 });
    window(a, 1, [retrans(5)]);
    a.connectionEnded(endOf(SOCK.src, SOCK.sport, SOCK.dst, SOCK.dport, 9, closedAt(1) + 1, NETNS + 1));
    a.connectionEnded(endOf(SOCK.src, SOCK.sport, SOCK.dst, SOCK.dport + 1, 9, closedAt(1) + 2));
    expect(finalsOf(window(a, 2, []))).toEqual([]);
    expect(a.trackedFlows).toBe(1);
    // Shutdown finals say so.
    expect(dt(a.finish()[0]).flow.end_reason).toBe('shutdown');
  });

  it('keys: endpoint order, IPv4-mapped IPv6 (dual-stack sockets) equal to the packet header IPv4, orderly states', () => {
    expect(connectionKey(1, { ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 5000 })).toBe(connectionKey(1, { ip: '10.0.0.2', port: 5000 }, { ip: '10.0.0.1', port: 80 }));
    expect(connectionKey(1, { ip: '::ffff:10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 5000 })).toBe(connectionKey(1, { ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 5000 }));
    expect(connectionKey(1, { ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 5000 })).not.toBe(connectionKey(2, { ip: '10.0.0.1', port: 80 }, { ip: '10.0.0.2', port: 5000 }));
    expect([4, 5, 6, 9, 11].map(endReason)).toEqual(['fin', 'fin', 'fin', 'fin', 'fin']);
    expect([1, 2, 3, 8].map(endReason)).toEqual(['reset', 'reset', 'reset', 'reset']);
  });

  it('a dual-stack (IPv6) socket closing ends the IPv4 flows it carried', () => {
    const a = aggregator({ idleTimeoutMs: 3_600_000 });
    window(a, 1, [retrans(2)]);
    // ::ffff:10.2.0.1 and ::ffff:10.2.0.2 (SOCK's endpoints), as a dual-stack socket holds them.
    a.connectionEnded(endOf('::ffff:a02:1', SOCK.sport, '::ffff:a02:2', SOCK.dport, 9, closedAt(1) + 1));
    expect(finalsOf(window(a, 2, []))).toHaveLength(1);
  });

  it('pending ends are bounded (a close storm between flushes)', () => {
    const a = aggregator({ maxFlows: 3 });
    for (let i = 0; i < 100; i++) a.connectionEnded(endOf(SOCK.src, 1000 + i, SOCK.dst, SOCK.dport, 9, closedAt(1) + 1));
    expect(a.stats.connectionEnds).toBe(100);
    expect((a as unknown as { ends: unknown[] }).ends.length).toBeLessThanOrEqual(12);
  });
});
