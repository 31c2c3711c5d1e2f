// A TraceSession without a kernel: a fake tracer the test drives (it hands
// the session the lines a real bpftrace printed), fake capabilities and BPF
// objects; the real catalog, decoder, enricher and aggregator. Shared by the
// session tests (trace-session, run, tail).
import { join } from 'node:path';
import type { Capabilities, SignalChoice } from '../../src/source/capabilities.js';
import type { SupervisorOptions } from '../../src/source/supervisor.js';
import type { SessionDeps, Tracer } from '../../src/session/trace-session.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';
import type { InterfaceResolver } from '../../src/enrich/interfaces.js';
import { CATALOG } from './catalog.js';
import { SYMS, REASONS, fixedClock } from './fake-enricher.js';

export const V023 = { major: 0, minor: 23, patch: 2, text: '0.23.2' };

/** The variant the catalog lists first for a signal (what a 0.23 host picks). */
export function choice(signal: string, variantIndex = 0): SignalChoice {
  const v = CATALOG.signal(signal)!.variants[variantIndex];
  return { signal, variant: v.name, files: [...v.programs], detail: v.detail, degraded: false };
}

export function caps(signals: SignalChoice[], root: string): Capabilities {
  return {
    root: true,
    bpftrace: { command: { file: '/fake/bpftrace', prefixArgs: [], display: 'fake' }, version: V023, why: 'test', fentrySupported: false, kprobeSupported: false },
    btf: true,
    tracefs: { path: join(root, 'tracefs'), mountedByUs: false },
    kallsyms: { readable: true, kptrRestrict: 0 },
    features: { dropReasons: true, dropRxSk: true, retransmitErr: true },
    signals,
  };
}

/** A tracer the test drives: `ready()` attaches, `line()` prints, `fail()` gives up before ready. */
export class FakeTracer implements Tracer {
  pid: number | undefined = 4242;
  stoppedBy: 'requested' | 'signal' | null = null;
  diesWithParent = true;
  private resolve!: () => void;
  private reject!: (e: Error) => void;
  readonly done = new Promise<void>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });
  stops = 0;

  constructor(readonly o: SupervisorOptions, private readonly plan: 'ready' | Error) {}

  start(): Promise<void> {
    queueMicrotask(() => (this.plan === 'ready' ? this.o.onReady(this.pid!, 0) : this.reject(this.plan)));
    return this.done;
  }

  line(...lines: string[]): void {
    for (const l of lines) this.o.onLine(l);
  }

  async stop(): Promise<void> {
    this.stops++;
    this.stoppedBy = this.o.requestStop ? 'requested' : 'signal';
    this.resolve();
  }
}


export interface FakeSessionOptions {
  signals?: SignalChoice[];
  /** Per tracer started, in order: attach ('ready') or give up before ready. */
  plans?: Array<'ready' | Error>;
  misses?: Array<{ id: number; name: string; misses: number }>;
  /** A directory for the fake tracefs. */
  root: string;
  /** Every tracer started, for the test to drive. */
  tracers: FakeTracer[];
}

/** SessionDeps with nothing real underneath but the catalog and the enrichment tables. */
export function fakeSessionDeps(o: FakeSessionOptions): SessionDeps {
  const signals = o.signals ?? [choice('drops'), choice('retransmits')];
  const plans = o.plans ?? ['ready'];
  const misses = o.misses ?? [];
  return {
    catalog: CATALOG,
    detect: async () => caps(signals, o.root),
    tracer: (so) => {
      const t = new FakeTracer(so, plans[o.tracers.length] ?? 'ready');
      o.tracers.push(t);
      return t;
    },
    symbols: () => new KallsymsSymbolizer(SYMS),
    names: () => REASONS,
    interfaces: { nameOf: () => undefined, indexOf: (_ns: number, name: string) => (name === 'veth0' ? 7 : undefined), isLocalAddress: () => undefined } as unknown as InterfaceResolver,
    selfNetns: () => 4026531840,
    bpf: {
      readObjects: () => ({ progs: misses.map((m) => ({ id: m.id, type: 17, recursionMisses: m.misses })), maps: [{ id: 1, type: 1, keySize: 8, valueSize: 8, maxEntries: 17408, memlock: 4096 }] }),
      progNames: async () => new Map(misses.map((m) => [m.id, m.name])),
      setScalar: async () => true,
    },
    clock: fixedClock,
  };
}

/** A streamed drop event as bpftrace prints it (UDP 1.0.0.10:40000 → 2.0.0.10:9999 dropped in NETNS). */
export const NETNS = 4026532301;
export const dropLine = (over: Record<string, unknown> = {}) => JSON.stringify({
  t: 'drop', ts: 3_500_000_000, reason: 3, loc: '0xffffffff82046f4c', eth: 2048, len: 60, ifindex: 3, iif: 3, netns: NETNS,
  dst_in: '0xffffffff81ff6530', l3: 4, l4: 17, s4: 16777482, d4: 33554698, s6: '0'.repeat(32), d6: '0'.repeat(32),
  sport: 40000, dport: 9999, tflags: 0, icmp_type: 0, icmp_code: 0, local: 0, cpu: 2, ...over,
});
