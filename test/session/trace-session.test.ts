// TraceSession without a kernel: a fake tracer (it hands the session the
// lines a real bpftrace printed, in the shapes test/fixtures hold), fake
// capabilities and BPF objects, the real catalog, decoder, enricher and
// aggregator. What the live tests check end to end, here line by line.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceSession, type SessionOptions } from '../../src/session/trace-session.js';
import { EnvironmentError, TracerError, UsageError } from '../../src/errors.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';
import type { EcsRecord } from '../../src/record/ecs.js';
import { SYMS, ADDR } from '../helpers/fake-enricher.js';
import { choice, dropLine, fakeSessionDeps, FakeTracer, NETNS } from '../helpers/fake-session.js';
import { dropKey, mapLine, sockKey } from '../helpers/probe-keys.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-session-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Harness {
  session: TraceSession;
  records: EcsRecord[];
  warnings: string[];
  tracers: FakeTracer[];
  windows: Array<{ startIso: string; endIso: string; final: boolean }>;
}

function harness(over: Partial<SessionOptions> = {}, signals = [choice('drops'), choice('retransmits')], plans: Array<'ready' | Error> = ['ready'], misses: Array<{ id: number; name: string; misses: number }> = []): Harness {
  const records: EcsRecord[] = [];
  const warnings: string[] = [];
  const tracers: FakeTracer[] = [];
  const windows: Harness['windows'] = [];
  const session = new TraceSession({
    filters: {},
    uid: 0,
    hostName: 'node-1',
    onRecord: (r) => records.push(r),
    onWarning: (m) => warnings.push(m),
    onWindowClosed: (w) => windows.push(w),
    ...over,
    deps: { ...fakeSessionDeps({ signals, plans, misses, root, tracers }), ...over.deps },
  });
  return { session, records, warnings, tracers, windows };
}

const dt = (r: EcsRecord) => r.droptrace as Record<string, any>;

describe('TraceSession: start', () => {
  it('streams: the program has the chosen signals, the ready file names them, events become records', async () => {
    const readyFile = join(root, 'ready-1');
    const h = harness({ readyFile });
    await h.session.start();
    const t = h.tracers[0];
    expect(t.o.program).toContain('rawtracepoint:kfree_skb');
    expect(t.o.program).toContain('rawtracepoint:tcp_retransmit_skb');
    // bpftrace >= 0.18: its run-time helper checks compiled out; streaming stops by SIGINT (no requestStop).
    expect(t.o.bpftraceArgs).toEqual(['--no-warnings']);
    expect(t.o.requestStop).toBeUndefined();
    expect(JSON.parse(readFileSync(readyFile, 'utf8'))).toMatchObject({ bpftracePid: 4242, restarts: 0, signals: [{ signal: 'drops', variant: 'rawtracepoint' }, { signal: 'retransmits', variant: 'rawtracepoint' }] });
    t.line(dropLine());
    expect(h.records).toHaveLength(1);
    expect(h.records[0].event).toMatchObject({ action: 'packet-dropped', reason: 'NO_SOCKET' });
    expect(h.records[0].source).toEqual({ ip: '10.1.0.1', port: 40000 });
    expect(h.session.stats).toMatchObject({ lines: 1, events: 1, undecodable: 0 });
  });

  it('flow ends are left out of a per-event stream (they only close flow records); kept when aggregating', async () => {
    const stream = harness({}, [choice('drops'), choice('flow-ends')]);
    await stream.session.start();
    expect(stream.session.included.map((s) => s.signal)).toEqual(['drops']);
    const agg = harness({ stream: null, aggregate: { intervalS: 10, maxFlows: 64, collectorMaxFlows: 100, idleTimeoutS: 60 } }, [choice('drops'), choice('flow-ends')]);
    await agg.session.start();
    expect(agg.session.included.map((s) => s.signal)).toEqual(['drops', 'flow-ends']);
    // Aggregating programs stop through their tick: the session asks, bpftrace exits by itself.
    expect(agg.tracers[0].o.requestStop).toBeTypeOf('function');
    expect(agg.tracers[0].o.env).toMatchObject({ BPFTRACE_MAX_MAP_KEYS: String(64 + 1024) });
  });

  it('a signal that fails to start is dropped (the least essential first) and the rest start', async () => {
    const h = harness({}, [choice('drops'), choice('retransmits'), choice('incoming-loss')], [new TracerError('attach failed: tcp_probe'), 'ready']);
    await h.session.start();
    expect(h.tracers).toHaveLength(2);
    // keep: incoming-loss 30 < retransmits 50 < drops 60.
    expect(h.session.included.map((s) => s.signal)).toEqual(['drops', 'retransmits']);
    expect(h.warnings.join('\n')).toMatch(/signal incoming-loss \(rawtracepoint\) failed to start and is disabled: attach failed/);
    expect(h.tracers[1].o.program).not.toMatch(/^rawtracepoint:tcp_probe$/m);
    expect(h.tracers[0].o.program).toMatch(/^rawtracepoint:tcp_probe$/m);
  });

  it('gives up with the tracer error when the last signal fails too', async () => {
    const h = harness({}, [choice('drops')], [new TracerError('compile error')]);
    await expect(h.session.start()).rejects.toThrow(/compile error/);
  });

  it('refuses before spawning anything: not root, a bad filter, an unknown reason or interface, filters that exclude every signal', async () => {
    const cases: Array<[Partial<SessionOptions>, unknown, RegExp]> = [
      [{ uid: 1000 }, EnvironmentError, /must run as root/],
      [{ filters: { port: ['99999'] } }, UsageError, /port/],
      [{ filters: { reason: ['NO_SUCH_REASON'] } }, UsageError, /not a drop reason of this kernel/],
      [{ filters: { iface: ['nope0'] } }, UsageError, /no interface named nope0/],
      [{ filters: { proto: ['udp'] } }, UsageError, /exclude every signal/],
    ];
    for (const [over, type, re] of cases) {
      const h = harness(over, over.filters?.proto ? [choice('retransmits')] : undefined);
      const e = await h.session.start().then(() => null, (x) => x);
      expect(e, re.source).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(re);
      expect(h.tracers, re.source).toHaveLength(0);
    }
  });

  it('filters become predicates over validated numbers (interface names resolved in our netns)', async () => {
    const h = harness({ filters: { iface: ['veth0'], reason: ['NETFILTER_DROP'] } }, [choice('drops')]);
    await h.session.start();
    expect(h.tracers[0].o.program).toContain('($ifindex == 7 || $iif == 7)');
    expect(h.tracers[0].o.program).toContain('$reason == 12');
  });
});

describe('TraceSession: what each line means', () => {
  it('undecodable and overlong lines are counted, warned once, never fatal', async () => {
    const h = harness();
    await h.session.start();
    const t = h.tracers[0];
    t.line('garbage', '{"t":"drop"}', dropLine());
    t.o.onOverlong!(2 << 20);
    expect(h.session.stats).toMatchObject({ undecodable: 3, overlong: 1, events: 1, lines: 4 });
    expect(h.warnings.filter((w) => /skipping undecodable/.test(w))).toHaveLength(1);
    expect(h.warnings.filter((w) => /longer than/.test(w))).toHaveLength(1);
    expect(h.records).toHaveLength(1);
  });

  it('a bpftrace diagnostic block: the helper error counted once with a warning, its echoed source line not undecodable', async () => {
    const h = harness();
    await h.session.start();
    h.tracers[0].line(
      'stdin:12:5-30: WARNING: Failed to map_update_elem: Argument list too long (-7)',
      'Additional Info - helper: map_update_elem, retcode: -7',
      '    @d0[$k1] = stats($len);',
      '    ~~~~~~~~~~~~~~~~~~~~~~~',
      'Additional Info - helper: map_update_elem, retcode: -7',
    );
    expect(h.session.stats).toMatchObject({ helperErrors: 2, undecodable: 0 });
    expect(h.warnings.filter((w) => /failing map_update_elem/.test(w))).toHaveLength(1);
  });

  it('lost events: counted and reported as an events-lost record', async () => {
    const h = harness();
    await h.session.start();
    h.tracers[0].line('Lost 17 events');
    expect(h.session.stats.lost).toBe(17);
    expect(h.records[0].event.action).toBe('events-lost');
    expect(dt(h.records[0]).lost).toEqual({ count: 17 });
  });

  it('--kernel-stack: the drop waits for its frames, symbolized, the BPF trampoline cut off', async () => {
    const symbols = () => new KallsymsSymbolizer(`${SYMS}\nffffffff81300000 T bpf_trace_run4\nffffffff81300400 T next_after_bpf`);
    const h = harness({ kernelStack: true, deps: { symbols } });
    await h.session.start();
    expect(h.tracers[0].o.program).toContain('kstack(perf, 16)');
    // Addresses only: names come from our own kallsyms (the text bpftrace adds is ignored).
    h.tracers[0].line(dropLine(), '\tffffffff81300010 anything', '\tffffffff82046f4c __udp4_lib_rcv+0x14c', '{"t":"stack-end"}');
    expect(h.records).toHaveLength(1);
    expect(dt(h.records[0]).drop.stack).toEqual(['__udp4_lib_rcv+0x14c']);
    // A drop whose marker never came is still emitted (with what arrived) before the next event.
    h.tracers[0].line(dropLine(), '\tffffffff82046f4c x', dropLine());
    expect(h.records).toHaveLength(2);
    await h.session.stop();
    expect(h.records).toHaveLength(3);
  });

  it('a restart: a tracer gap record, restarts counted, the ready file rewritten', async () => {
    const readyFile = join(root, 'ready-2');
    const h = harness({ readyFile });
    await h.session.start();
    const t = h.tracers[0];
    t.o.onGap({ start: 1000, end: 3000, cause: 'exit 1', restarts: 1 });
    t.o.onReady(4343, 1);
    expect(h.session.stats).toMatchObject({ gaps: 1, restarts: 1 });
    expect(h.records.at(-1)!.event.action).toBe('tracer-gap');
    expect(dt(h.records.at(-1)!).gap).toMatchObject({ duration_ms: 2000, cause: 'exit 1', restarts: 1 });
    expect(JSON.parse(readFileSync(readyFile, 'utf8'))).toMatchObject({ bpftracePid: 4343, restarts: 1 });
  });
});

describe('TraceSession: windows', () => {
  const AGG = { intervalS: 10, maxFlows: 64, collectorMaxFlows: 100, idleTimeoutS: 60 };
  const key = dropKey({ netns: NETNS, ifindex: 3, iif: 3, dstIn: ADDR.ipLocalDeliver, loc: ADDR.nftDoChain, l3: 4, l4: 17, reason: 12, sport: 5000, dport: 40101, src: '10.202.1.1', dst: '10.202.1.2' });
  const retransKey = sockKey({ code: 1, netns: NETNS, state: 1, ca: 4, pending: 1, l3: 4, sport: 5201, dport: 46000, src: '10.2.0.1', dst: '10.2.0.2' });
  /** What the flush probe prints for window 5 → 6 (the clock: wall 2024-01-01 at mono 1 s, so the phase is 0 mod 10 s … 1 s). */
  const ts = (w: number) => (w * 10 + 1) * 1e9 + 1e8;

  it('a window dump becomes exact flow records; the kernel totals vouch for them; onWindowClosed follows', async () => {
    const h = harness({ stream: null, aggregate: AGG });
    await h.session.start();
    h.tracers[0].line(
      JSON.stringify({ t: 'flush', from: 5, to: 6, ts: ts(5) }),
      mapLine('d0', key, 40, 2400),
      mapLine('r0', retransKey, 3, Number(4344n | (3n << 40n))),
      '@td0: 40', '@tr0: 3', '@ti0: 0',
      '@stalls: 0',
      '{"t":"flush-end"}',
    );
    const flows = h.records.filter((r) => r.event.dataset === 'droptrace.flows');
    expect(flows.map((r) => [r.event.action, dt(r).count])).toEqual([['packet-dropped', 40], ['tcp-retransmit', 3]]);
    expect(dt(flows[1])).toMatchObject({ bytes: 4344, segments: 3 });
    expect(h.session.stats).toMatchObject({ windows: 1, flowRecords: 2, unattributed: 0, strayEntries: 0 });
    expect(h.windows).toHaveLength(1);
    expect(h.windows[0].final).toBe(false);
  });

  it('counts the kernel could not key (a total above its entries) are an unattributed record, warned once', async () => {
    const h = harness({ stream: null, aggregate: AGG });
    await h.session.start();
    h.tracers[0].line(JSON.stringify({ t: 'flush', from: 5, to: 6, ts: ts(5) }), mapLine('d1', key, 40, 2400), '@td1: 45', '{"t":"flush-end"}');
    const un = h.records.filter((r) => r.event.reason === 'unattributed');
    expect(un.map((r) => [r.event.action, dt(r).count])).toEqual([['packet-dropped', 5]]);
    expect(h.session.stats.unattributed).toBe(5);
    expect(h.warnings.filter((w) => /unattributed/.test(w))).toHaveLength(1);
  });

  it('a flush marker naming a window after its own time is undecodable (its entries then land in the window being counted)', async () => {
    const h = harness({ stream: null, aggregate: AGG });
    await h.session.start();
    h.tracers[0].line(JSON.stringify({ t: 'flush', from: 9, to: 10, ts: ts(5) }));
    expect(h.session.stats.undecodable).toBe(1);
  });

  it('cumulative counters of the program (postponed flips, rate-limited events) are added as deltas, per bpftrace process', async () => {
    const h = harness({ stream: { ratePerSec: 10 }, aggregate: AGG });
    await h.session.start();
    const t = h.tracers[0];
    t.line('@stalls: 2', '@stalls: 2', '@stalls: 5', '@suppressed: 100', '@suppressed: 250');
    expect(h.session.stats).toMatchObject({ windowStalls: 5, suppressed: 250 });
    // A restarted bpftrace counts from 0 again.
    t.o.onReady(4343, 1);
    t.line('@stalls: 1', '@suppressed: 7');
    expect(h.session.stats).toMatchObject({ windowStalls: 6, suppressed: 257 });
  });

  it('bpftrace\'s exit print of the maps is the final window; stop() says how the tracer stopped', async () => {
    const h = harness({ stream: null, aggregate: AGG });
    await h.session.start();
    h.tracers[0].line(mapLine('d0', key, 7, 420), '@td0: 7');
    await h.session.stop();
    expect(h.session.stats.stoppedBy).toBe('requested');
    const flows = h.records.filter((r) => r.event.dataset === 'droptrace.flows');
    expect(flows.map((r) => dt(r).count)).toEqual([7]);
    expect(dt(flows[0]).window.final).toBe(true);
    expect(h.windows.at(-1)!.final).toBe(true);
    // Flows still open get their final record after stop().
    h.session.finishFlows();
    expect(h.records.filter((r) => dt(r).flow?.final)).toHaveLength(1);
  });

  it('a tracer stopped by a signal while aggregating is warned about (the last windows may be short)', async () => {
    const h = harness({ stream: null, aggregate: AGG }, undefined, ['ready']);
    await h.session.start();
    h.tracers[0].o.requestStop = undefined;
    await h.session.stop();
    expect(h.session.stats.stoppedBy).toBe('signal');
    expect(h.warnings.join('\n')).toMatch(/did not stop on request/);
  });
});

describe('TraceSession: kernel-skipped firings', () => {
  it('are attributed to signals by program name (bpftool), other programs are "other", the rest unattributed; deltas only', async () => {
    const misses = [{ id: 11, name: 'rawtracepoint_kfree_skb_1', misses: 3 }, { id: 12, name: 'tcp_retransmit_', misses: 1 }, { id: 13, name: 'interval_ms_100', misses: 2 }];
    const h = harness({}, [choice('drops'), choice('retransmits')], ['ready'], misses);
    await h.session.start();
    // inspect() runs once the tracer is ready (names come asynchronously).
    await new Promise((r) => setTimeout(r, 10));
    expect(h.session.updateKernelMissed()).toBe(6);
    expect(h.session.stats.kernelMissedBySignal).toEqual({ drops: 3, retransmits: 1, other: 2 });
    expect(h.session.stats.kernelMaps).toEqual({ maps: 1, keys: 17408, bytes: 4096 });
    // Read again: nothing new.
    expect(h.session.updateKernelMissed()).toBe(6);
  });
});

describe('TraceSession: the ready file', () => {
  it('is not written before every probe is attached', async () => {
    const readyFile = join(root, 'ready-3');
    const h = harness({ readyFile }, [choice('drops')], [new TracerError('x')]);
    await h.session.start().catch(() => undefined);
    expect(existsSync(readyFile)).toBe(false);
  });
});
