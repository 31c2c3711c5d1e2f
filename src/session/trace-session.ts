// One tracing session: validate filters, detect capabilities, build the
// program from the probe catalog, supervise bpftrace, and turn its lines into
// ECS records:
//   probes/*.bt → source (supervisor) → decode → enrich → [aggregate] → onRecord
// Its parts: ./launcher.ts (start, drop a failing signal, retry),
// ./dispatch.ts (what each line means), ./kernel-stacks.ts, ./windows.ts (flow
// records), ./kernel-missed.ts and ./session-stats.ts (what it counts about
// itself), ./meta-records.ts (lost events, tracer gaps).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError, UsageError } from '../errors.js';
import type { EcsRecord } from '../record/ecs.js';
import { parseFilters, type RawFilters } from '../filters/filters.js';
import { compilePredicate } from '../source/predicate.js';
import { detectCapabilities, assertRunnable, type Capabilities, type SignalChoice, type DetectOptions } from '../source/capabilities.js';
import { buildProgram, type Program } from '../source/program.js';
import { loadCatalog, type Catalog } from '../source/catalog.js';
import { Supervisor, type Gap, type SupervisorOptions } from '../source/supervisor.js';
import { readBpfObjects, bpftoolProgNames, setScalarMap } from '../source/bpf-fdinfo.js';
import { kernelMapSizing } from '../source/map-sizing.js';
import { versionAtLeast } from '../source/bpftrace-binary.js';
import { wireDecoder } from '../decode/wire.js';
import { WireSchema } from '../decode/wire-schema.js';
import { WindowClock, DEFAULT_INTERVAL_S } from '../decode/window-clock.js';
import { KallsymsSymbolizer } from '../enrich/kallsyms.js';
import { loadSymbolic, ReasonTable } from '../enrich/reasons.js';
import { InterfaceResolver, netnsInodeOf } from '../enrich/interfaces.js';
import { Enricher } from '../enrich/enricher.js';
import { MonotonicToWall, systemClock, type Clock } from '../platform/clock.js';
import { RepeatLimiter } from '../platform/log-limiter.js';
import { writeReadyFile } from './ready-file.js';
import { emptyStats, CumulativeCounter, type SessionStats } from './session-stats.js';
import { KernelMissed, type BpfInspector } from './kernel-missed.js';
import { KernelStacks } from './kernel-stacks.js';
import { LineDispatcher } from './dispatch.js';
import { Windows } from './windows.js';
import { launchWithRetries } from './launcher.js';
import { eventsLostRecord, tracerGapRecord } from './meta-records.js';
import { resolveFilters } from './filter-resolution.js';

export type { SessionStats } from './session-stats.js';

/** A running bpftrace (src/source/supervisor.ts; a fake in unit tests). */
export interface Tracer {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly pid: number | undefined;
  readonly stoppedBy: 'requested' | 'signal' | null;
  readonly diesWithParent: boolean;
}

/** What the session reaches outside itself; each has the real default (unit tests inject fakes). */
export interface SessionDeps {
  catalog?: Catalog;
  detect?: (o: DetectOptions) => Promise<Capabilities>;
  tracer?: (o: SupervisorOptions) => Tracer;
  symbols?: () => KallsymsSymbolizer;
  /** An enum's names from tracefs (the catalog's "names"). */
  names?: (tracefs: string, tracepoint: string, field: string, skip: readonly string[]) => ReasonTable;
  interfaces?: InterfaceResolver;
  /** Our own network namespace's inode (interface names in filters are looked up there). */
  selfNetns?: () => number;
  bpf?: BpfInspector & { setScalar(pid: number, name: string, value: bigint): Promise<boolean> };
  clock?: Clock;
}

export interface SessionOptions {
  bpftrace?: string;
  filters: RawFilters;
  readyFile?: string;
  onRecord: (r: EcsRecord) => void;
  onWarning?: (msg: string) => void;
  uid?: number;
  detect?: Partial<DetectOptions>;
  hostName?: string;
  kallsymsPath?: string;
  perfRbPages?: number;
  /** Per-event records: events/s budget (0 = unlimited), or null for none. Default unlimited. */
  stream?: { ratePerSec: number } | null;
  /** Per-flow windows counted in the kernel; flow records go to onRecord. */
  aggregate?: { intervalS: number; maxFlows: number; collectorMaxFlows: number; idleTimeoutS: number; kernelMapKeys?: number } | null;
  /** Signals not to trace even when available (e.g. run --no-incoming-loss). */
  disabledSignals?: string[];
  /** Attach the kernel stack to each streamed drop record (droptrace.drop.stack). */
  kernelStack?: boolean;
  /** The first ready file is written only once this settles too (and probes are attached). */
  readyGate?: Promise<unknown>;
  /** Called after each window's flow records were passed to onRecord. */
  onWindowClosed?: (w: { startIso: string; endIso: string; final: boolean }) => void;
  deps?: SessionDeps;
}

const realBpf: NonNullable<SessionDeps['bpf']> = {
  readObjects: (pid) => readBpfObjects(pid),
  progNames: () => bpftoolProgNames(),
  setScalar: (pid, name, value) => setScalarMap(pid, name, value),
};

export class TraceSession {
  readonly stats: SessionStats = emptyStats();
  capabilities!: Capabilities;
  included: SignalChoice[] = [];
  private readonly host: string;
  private readonly catalog: Catalog;
  private readonly bpf: NonNullable<SessionDeps['bpf']>;
  private readonly clock: Clock;
  private readonly missed: KernelMissed;
  private readonly stalls = new CumulativeCounter();
  private readonly suppressed = new CumulativeCounter();
  /** Undecodable lines: the first one with a sample, then one summary a minute. */
  private readonly badLines: RepeatLimiter;
  private tracer: Tracer | null = null;
  private running: Promise<void> = Promise.resolve();
  private dispatcher: LineDispatcher | null = null;
  private windows: Windows | null = null;
  private stacks: KernelStacks | null = null;
  private enricher!: Enricher;

  constructor(private readonly o: SessionOptions) {
    this.host = o.hostName ?? hostname();
    this.catalog = o.deps?.catalog ?? loadCatalog();
    this.bpf = o.deps?.bpf ?? realBpf;
    this.clock = o.deps?.clock ?? systemClock;
    this.missed = new KernelMissed(this.bpf, this.stats);
    this.badLines = new RepeatLimiter((m) => this.warn(m), { timer: true });
  }

  private warn(msg: string): void {
    this.o.onWarning?.(msg);
  }

  /** Resolves once every probe is attached (and the ready file is written). */
  async start(): Promise<void> {
    const deps = this.o.deps ?? {};
    // Filters first: a bad value is rejected before anything else happens.
    const filters = parseFilters(this.o.filters);
    const uid = this.o.uid ?? process.getuid?.() ?? 0;
    if (uid !== 0) throw new EnvironmentError('droptrace must run as root (it loads BPF programs and reads kernel addresses)', 'Run it with sudo, or as a root sidecar.');
    this.capabilities = await (deps.detect ?? detectCapabilities)({ bpftrace: this.o.bpftrace, uid, catalog: this.catalog, ...this.o.detect });
    assertRunnable(this.capabilities);
    for (const s of this.capabilities.signals) if (s.degraded) this.warn(`signal ${s.signal}: ${s.variant} — ${s.detail}`);

    const tracefs = this.capabilities.tracefs.path!;
    const loadNames = deps.names ?? loadSymbolic;
    const names: Record<string, ReasonTable> = {};
    for (const n of this.catalog.names.values()) names[n.name] = loadNames(tracefs, n.tracepoint, n.field, n.skip);
    const reasons = names.dropReason ?? new ReasonTable(new Map());
    if (reasons.size === 0) this.warn('could not read drop reason names from tracefs; reasons are shown as numbers');
    const interfaces = deps.interfaces ?? new InterfaceResolver();
    const selfNs = (deps.selfNetns ?? (() => netnsInodeOf('/proc/self/ns/net') ?? 0))();
    const resolved = resolveFilters(filters, { reasons, ifindexOf: (name) => interfaces.indexOf(selfNs, name) });

    const agg = this.o.aggregate ?? null;
    const stream = this.o.stream === undefined ? { ratePerSec: 0 } : this.o.stream;
    const off = new Set(this.o.disabledSignals ?? []);
    // A signal only of use to one mode (flow ends only close flow records) is left out of the other.
    for (const s of this.catalog.signals) {
      if ((!agg || !s.modes.includes('aggregate')) && (!stream || !s.modes.includes('stream'))) off.add(s.name);
    }
    const signals = this.capabilities.signals.filter((s) => s.files.length > 0 && !off.has(s.signal));
    const window = agg ? WindowClock.aligned(agg.intervalS ?? DEFAULT_INTERVAL_S, BigInt(this.clock.wallMs()) * 1_000_000n - this.clock.monoNs()) : null;
    const wallClock = new MonotonicToWall(this.clock);
    const predicates = { dropPredicate: compilePredicate(resolved, 'drop'), tcpSockPredicate: compilePredicate(resolved, 'tcp-sock') };

    let symbols: KallsymsSymbolizer | null = null;
    // kallsyms (~0.3 s to parse) is loaded right after bpftrace is spawned,
    // while it compiles on another core; no output line is handled before.
    const loadSymbols = (): KallsymsSymbolizer => {
      if (symbols) return symbols;
      symbols = deps.symbols ? deps.symbols() : KallsymsSymbolizer.fromFile(this.o.kallsymsPath ?? join(this.o.detect?.procRoot ?? '/proc', 'kallsyms'));
      if (!symbols.available) this.warn('kernel addresses are hidden (kptr_restrict or not root): locations are shown as raw hex');
      return symbols;
    };

    const program = await launchWithRetries(signals, {
      build: (sigs) => {
        const p = buildProgram({
          signals: sigs, version: this.capabilities.bpftrace.version, ...predicates, minReason: reasons.minCode(), features: this.capabilities.features, catalog: this.catalog,
          stream, kernelStack: this.o.kernelStack ?? false,
          aggregate: agg && window ? { intervalNs: window.intervalNs, phaseNs: window.phaseNs, maxFlows: agg.maxFlows } : null,
        });
        if (p.included.length === 0) throw new UsageError('the filters exclude every signal (e.g. --filter-proto udp with only TCP signals available)');
        return p;
      },
      launch: (p) => {
        this.included = p.included;
        const ready = this.launch(p.text, agg ? kernelMapSizing(this.capabilities.bpftrace.version, agg.maxFlows, agg.kernelMapKeys).env : {});
        // Spawned synchronously above; its lines are handled only once the
        // enricher and aggregator below exist (same tick).
        this.pipeline(p, { symbols: loadSymbols(), reasons, names, interfaces, wallClock, window, agg });
        return ready;
      },
      keep: (name) => this.catalog.signal(name)?.keep ?? 0,
      warn: (m) => this.warn(m),
    });
    this.included = program.included;
  }

  /** The decode → enrich → (aggregate) → onRecord chain of one launched program. */
  private pipeline(p: Program, c: {
    symbols: KallsymsSymbolizer; reasons: ReasonTable; names: Record<string, ReasonTable>; interfaces: InterfaceResolver;
    wallClock: MonotonicToWall; window: WindowClock | null; agg: SessionOptions['aggregate'];
  }): void {
    const wire = this.catalog.wire;
    this.enricher = new Enricher({
      symbols: c.symbols, reasons: c.reasons, names: c.names, interfaces: c.interfaces, hostName: this.host,
      tlpObserved: p.included.some((s) => s.signal === 'loss-probes'), clock: c.wallClock,
    });
    const emit = (r: EcsRecord) => this.o.onRecord(r);
    this.stacks = new KernelStacks((a) => this.enricher.symbolize(a), emit);
    this.windows = c.agg && c.window ? new Windows({
      enricher: this.enricher, clock: c.wallClock, wire, window: c.window, hostName: this.host, monoNs: () => this.clock.monoNs(),
      collectorMaxFlows: c.agg.collectorMaxFlows, idleTimeoutS: c.agg.idleTimeoutS, stats: this.stats, emit, warn: (m) => this.warn(m),
      closed: (w) => {
        this.updateKernelMissed();
        this.o.onWindowClosed?.(w);
      },
    }) : null;
    const totals = new Set(wire.mapSpecs.map((m) => WireSchema.totalName(m.kind)));
    this.dispatcher = new LineDispatcher({ decode: wireDecoder(wire), totals, clock: c.window }, {
      event: (ev) => {
        this.stats.events++;
        const rec = this.enricher.enrich(ev);
        // The drop's stack follows on the next lines, ended by a marker.
        if (this.o.kernelStack && ev.t === 'drop') this.stacks!.expect(rec);
        else {
          this.stacks!.flush();
          emit(rec);
        }
      },
      stackFrame: (a) => this.stacks!.frame(a),
      stackEnd: () => this.stacks!.flush(),
      flowEnd: (e) => this.windows?.connectionEnded(e),
      flush: (from, to, ts, final) => this.windows?.begin(from, ts, final, to),
      flushEnd: () => this.windows?.end(),
      mapEntry: (e) => this.windows?.entry(e),
      windowTotal: (name, v) => this.windows?.total(name, v),
      counter: (name, v) => {
        // Cumulative per bpftrace process (reset on restart).
        if (name === 'stalls') this.stats.windowStalls += this.stalls.delta(v);
        else this.stats.suppressed += this.suppressed.delta(v);
      },
      helperError: (helper, retcode) => {
        if (this.stats.helperErrors++ === 0) this.warn(`bpftrace reports a failing ${helper} (error ${retcode}); further ones are only counted`);
      },
      lost: (count) => {
        this.stats.lost += count;
        emit(eventsLostRecord(this.host, count, this.stats));
      },
      undecodable: (line, why) => this.undecodable(line, why),
    });
  }

  private launch(program: string, extraEnv: Record<string, string>): Promise<void> {
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false;
      const opts: SupervisorOptions = {
        command: this.capabilities.bpftrace.command,
        program,
        env: { BPFTRACE_PERF_RB_PAGES: String(this.o.perfRbPages ?? 256), ...extraEnv },
        onLine: (l) => {
          this.stats.lines++;
          this.dispatcher?.line(l);
        },
        // bpftrace >= 0.18 checks helper calls at run time by default and reports
        // each failure through its ring: a full map (counted by our totals
        // anyway) would flood it and push our own messages out. --no-warnings
        // compiles the checks out (0.17 has none by default).
        bpftraceArgs: versionAtLeast(this.capabilities.bpftrace.version, 0, 18) ? ['--no-warnings'] : [],
        // Aggregating programs stop through their tick (no message lost); streaming ones by SIGINT.
        requestStop: this.o.aggregate ? (pid) => this.bpf.setScalar(pid, 'stopreq', 1n) : undefined,
        onOverlong: (n) => this.onOverlong(n),
        onStderr: (l) => this.warn(`bpftrace: ${l}`),
        onGap: (g) => this.onGap(g),
        onReady: (pid, restarts) => {
          this.stats.restarts = restarts;
          this.suppressed.reset();
          this.stalls.reset();
          this.missed.reset();
          void this.missed.inspect(pid, this.included.map((s) => ({ signal: s.signal, events: s.files.map((f) => this.catalog.program(f)?.def.event ?? '') })));
          // A restarted tracer: whatever the old one printed at exit is its final window.
          this.windows?.end();
          this.windows?.attached();
          if (this.o.readyFile) {
            const file = this.o.readyFile;
            const content = { pid: process.pid, bpftracePid: pid, restarts, signals: this.included.map((s) => ({ signal: s.signal, variant: s.variant })) };
            // The first ready file can wait for the caller's own start-up (run's counter baselines).
            if (!ready && this.o.readyGate) this.o.readyGate.then(() => writeReadyFile(file, content), () => undefined);
            else writeReadyFile(file, content);
          }
          if (!ready) {
            ready = true;
            resolveReady();
          }
        },
      };
      const tracer = (this.o.deps?.tracer ?? ((x) => new Supervisor(x)))(opts);
      this.tracer = tracer;
      this.running = tracer.start();
      this.running.catch((e) => {
        if (!ready) rejectReady(e);
      });
    });
  }

  /** Re-read the kernel's skip counters of the running bpftrace (call before stop() for the last value). */
  updateKernelMissed(): number {
    return this.missed.update(this.tracer?.pid);
  }

  /** Final flow records for flows still open (call after stop()). */
  finishFlows(): void {
    for (const r of this.windows?.finishEach() ?? []) this.o.onRecord(r);
  }

  /** Resolves when the tracer stops; rejects if it gave up. */
  wait(): Promise<void> {
    return this.running;
  }

  get bpftracePid(): number | undefined {
    return this.tracer?.pid;
  }

  async stop(): Promise<void> {
    // The program fds close with bpftrace: read the skip counters first.
    this.updateKernelMissed();
    await this.tracer?.stop();
    this.stats.stoppedBy = this.tracer?.stoppedBy ?? null;
    if (this.stats.stoppedBy === 'signal' && this.o.aggregate) this.warn('bpftrace did not stop on request (bpftool missing?): stopped with SIGINT, which can lose the messages it was handling (the last windows may be short)');
    this.stacks?.flush();
    // bpftrace's exit print of our maps was the last, partial window.
    this.windows?.end();
    this.badLines.close();
  }

  /** False when bpftrace could outlive us on this host (no setpriv --pdeathsig). */
  get tracerDiesWithUs(): boolean {
    return this.tracer?.diesWithParent ?? true;
  }

  private onOverlong(length: number): void {
    this.stats.lines++;
    this.stats.overlong++;
    this.stats.undecodable++;
    this.badLines.log(`skipped a bpftrace output line longer than ${length} bytes (cut at the line limit, counted as undecodable)`, 'overlong');
  }

  private undecodable(line: string, why: string): void {
    this.stats.undecodable++;
    const sample = line.length > 160 ? `${line.slice(0, 160)}… (${line.length} characters)` : line;
    // Raw here: every consumer of warnings escapes them for the terminal (once).
    this.badLines.log(`skipping undecodable bpftrace output (${why}), e.g. ${sample}; counted in stats.undecodable (${this.stats.undecodable} so far)`, 'undecodable');
  }

  private onGap(g: Gap): void {
    this.stats.gaps++;
    this.stats.restarts = g.restarts;
    this.o.onRecord(tracerGapRecord(this.host, g, this.stats));
  }
}
