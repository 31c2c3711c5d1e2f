// One tracing session: validate filters, detect capabilities, build the
// program, supervise bpftrace, and turn its lines into ECS records:
//   probes/*.bt → source (supervisor) → decode → enrich → onRecord(sinks)
import { hostname } from 'node:os';
import { EnvironmentError, TracerError, UsageError } from '../errors.js';
import type { EcsRecord } from '../record/ecs.js';
import { parseFilters, type RawFilters, type Filters } from '../filters/filters.js';
import { compilePredicate, type ResolvedFilters } from '../filters/predicate.js';
import { detectCapabilities, assertRunnable, SIGNAL_EVENTS, type Capabilities, type SignalChoice, type DetectOptions } from '../source/capabilities.js';
import { buildProgram } from '../source/program.js';
import { Supervisor, type Gap } from '../source/supervisor.js';
import { decodeLine } from '../decode/wire.js';
import { KallsymsSymbolizer } from '../enrich/kallsyms.js';
import { loadReasons, type ReasonTable } from '../enrich/reasons.js';
import { InterfaceResolver, netnsInodeOf } from '../enrich/interfaces.js';
import { Enricher, enrichEvent } from '../enrich/enricher.js';
import { writeReadyFile } from './ready-file.js';
import { WindowAssembler } from '../aggregate/window.js';
import { FlowAggregator } from '../aggregate/flow-records.js';
import { MonotonicToWall, systemClock } from '../enrich/clock.js';
import { readBpfObjects, attributePrograms, bpftoolProgNames, setScalarMap } from '../source/bpf-fdinfo.js';
import { kernelMapSizing } from '../source/map-sizing.js';
import { versionAtLeast } from '../source/bpftrace-binary.js';
import { RepeatLimiter } from '../platform/log-limiter.js';
import { join } from 'node:path';

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
}

export interface SessionStats {
  lines: number;
  events: number;
  undecodable: number;
  lost: number;
  restarts: number;
  gaps: number;
  /** Events the in-kernel rate limit kept off the per-event stream. */
  suppressed: number;
  windows: number;
  flowRecords: number;
  overflowCount: number;
  /** Map entries printed outside a flush, or of an unknown shape (both should stay 0). */
  strayEntries: number;
  /** Probe firings the kernel skipped (BPF recursion protection), all probes, this run. */
  kernelMissed: number;
  /** The same by signal (programs named by bpftool; 'unattributed' without it). */
  kernelMissedBySignal: Record<string, number>;
  /** Events the kernel counted that no map could key (a refused insert): in unattributed overflow records. */
  unattributed: number;
  /** The kernel maps of the running tracer: how many, their size in keys, and the memory the kernel charges for them. */
  kernelMaps: { maps: number; keys: number; bytes: number };
  /** Helper calls bpftrace reported failing (e.g. an insert into a full map: then also counted as unattributed). */
  helperErrors: number;
  /** How the tracer was stopped: 'requested' loses nothing; 'signal' (no bpftool, or no answer) may lose the messages bpftrace was handling. */
  stoppedBy: 'requested' | 'signal' | null;
  /** 100 ms ticks a window flip was postponed because userspace had not emptied the other generation yet. */
  windowStalls: number;
  /** Of `undecodable`: lines longer than the line limit (cut, never buffered whole). */
  overlong: number;
}

/** The per-window keyless totals (@td0 …; src/source/program.ts). */
const WINDOW_TOTALS = new Set(['td', 'tr', 'ti']);

const OPTIONAL_ORDER = ['flow-ends', 'loss-probes', 'incoming-loss', 'synack-retransmits', 'retransmits', 'drops'];

export class TraceSession {
  readonly stats: SessionStats = { lines: 0, events: 0, undecodable: 0, lost: 0, restarts: 0, gaps: 0, suppressed: 0, windows: 0, flowRecords: 0, overflowCount: 0, strayEntries: 0, kernelMissed: 0, kernelMissedBySignal: {}, unattributed: 0, kernelMaps: { maps: 0, keys: 0, bytes: 0 }, stoppedBy: null, helperErrors: 0, windowStalls: 0, overlong: 0 };
  private stallsSeen = 0;
  /** recursion_misses already counted from the current bpftrace process, per program id. */
  private missesSeen = new Map<number, number>();
  /** Program id → signal, for the current bpftrace process. */
  private progSignals = new Map<number, string>();
  private flows: FlowAggregator | null = null;
  private windows: WindowAssembler | null = null;
  /** Last cumulative @suppressed value seen from the current bpftrace process. */
  private suppressedSeen = 0;
  capabilities!: Capabilities;
  included: SignalChoice[] = [];
  private supervisor: Supervisor | null = null;
  private enricher!: Enricher;
  private running: Promise<void> = Promise.resolve();
  /** Undecodable lines: the first one with a sample, then one summary a minute. */
  private readonly badLines: RepeatLimiter;
  /** Window geometry, for checking flush markers against the clock. */
  private intervalNs = 0n;
  private phaseNs = 0n;
  private readonly host: string;

  constructor(private readonly o: SessionOptions) {
    this.host = o.hostName ?? hostname();
    this.badLines = new RepeatLimiter((m) => this.warn(m), { timer: true });
  }

  private warn(msg: string): void {
    this.o.onWarning?.(msg);
  }

  /** Resolves once every probe is attached (and the ready file is written). */
  async start(): Promise<void> {
    // Filters first: a bad value is rejected before anything else happens.
    const filters = parseFilters(this.o.filters);
    const uid = this.o.uid ?? process.getuid?.() ?? 0;
    if (uid !== 0) throw new EnvironmentError('droptrace must run as root (it loads BPF programs and reads kernel addresses)', 'Run it with sudo, or as a root sidecar.');
    this.capabilities = await detectCapabilities({ bpftrace: this.o.bpftrace, uid, ...this.o.detect });
    assertRunnable(this.capabilities);
    for (const s of this.capabilities.signals) if (s.degraded) this.warn(`signal ${s.signal}: ${s.variant} — ${s.detail}`);

    // kallsyms (~0.3 s to parse) is loaded right after bpftrace is spawned,
    // while it compiles on another core; no output line is handled before.
    let symbols: KallsymsSymbolizer | null = null;
    const loadSymbols = (): KallsymsSymbolizer => {
      if (symbols) return symbols;
      symbols = KallsymsSymbolizer.fromFile(this.o.kallsymsPath ?? join(this.o.detect?.procRoot ?? '/proc', 'kallsyms'));
      if (!symbols.available) this.warn('kernel addresses are hidden (kptr_restrict or not root): locations are shown as raw hex');
      return symbols;
    };
    const reasons = loadReasons(this.capabilities.tracefs.path!);
    if (reasons.size === 0) this.warn('could not read drop reason names from tracefs; reasons are shown as numbers');
    const interfaces = new InterfaceResolver();
    const resolved = await this.resolveFilters(filters, reasons, interfaces);

    const off = new Set(this.o.disabledSignals ?? []);
    const agg = this.o.aggregate ?? null;
    // Connection ends only close flow records: no use to a per-event stream.
    if (!agg) off.add('flow-ends');
    let signals = this.capabilities.signals.filter((s) => s.files.length > 0 && !off.has(s.signal));
    const tlpObserved = () => this.included.some((s) => s.signal === 'loss-probes');
    const clock = new MonotonicToWall();
    // Windows align to wall-clock multiples of the interval: boundaries at
    // monotonic times m with (m + wall-mono offset) % interval == 0.
    const intervalNs = BigInt(Math.round((agg?.intervalS ?? 10) * 1e9));
    const offsetNs = BigInt(systemClock.wallMs()) * 1_000_000n - systemClock.monoNs();
    const phaseNs = (((-offsetNs) % intervalNs) + intervalNs) % intervalNs;
    this.intervalNs = intervalNs;
    this.phaseNs = phaseNs;
    for (;;) {
      const program = buildProgram({
        signals,
        version: this.capabilities.bpftrace.version,
        dropPredicate: compilePredicate(resolved, 'drop'),
        tcpSockPredicate: compilePredicate(resolved, 'tcp-sock'),
        minReason: reasons.minCode(),
        dropRxSk: this.capabilities.dropRxSk,
        retransmitErr: this.capabilities.retransmitErr,
        stream: this.o.stream === undefined ? { ratePerSec: 0 } : this.o.stream,
        kernelStack: this.o.kernelStack ?? false,
        aggregate: agg ? { intervalNs, phaseNs, maxFlows: agg.maxFlows } : null,
      });
      if (program.included.length === 0) throw new UsageError('the filters exclude every signal (e.g. --filter-proto udp with only TCP signals available)');
      this.included = program.included;
      // Spawned synchronously here; its lines are handled only after the
      // enricher and aggregator below exist (same tick).
      const sizing = agg ? kernelMapSizing(this.capabilities.bpftrace.version, agg.maxFlows, agg.kernelMapKeys) : null;
      const launched = this.launch(program.text, sizing?.env ?? {});
      launched.catch(() => undefined);
      this.enricher = new Enricher({ symbols: loadSymbols(), reasons, interfaces, hostName: this.host, tlpObserved: tlpObserved(), clock });
      if (agg) {
        const flows = new FlowAggregator({
          enricher: this.enricher, clock, hostName: this.host, intervalNs, phaseNs, startNs: systemClock.monoNs(),
          maxFlows: agg.collectorMaxFlows, idleTimeoutMs: agg.idleTimeoutS * 1000,
        });
        this.flows = flows;
        this.windows = new WindowAssembler({
          begin: (window, closedAt, final, to) => flows.begin(window, closedAt, final, to),
          add: (e) => flows.add(e),
          total: (kind, n) => flows.total(kind, n),
          end: () => {
            const recs = flows.end();
            this.stats.windows = flows.stats.windows;
            this.stats.flowRecords = flows.stats.flowRecords;
            this.stats.overflowCount = flows.stats.overflowCount;
            if (flows.stats.unattributed > this.stats.unattributed) {
              if (this.stats.unattributed === 0) this.warn(`${flows.stats.unattributed} events could not be keyed in a full kernel map and are counted as unattributed (raise --kernel-map-keys, or leave it at 0)`);
              this.stats.unattributed = flows.stats.unattributed;
            }
            this.stats.strayEntries = flows.stats.unknownEntries + (this.windows?.stray ?? 0);
            for (const r of recs) this.o.onRecord(r);
            this.updateKernelMissed();
            if (flows.lastWindow) this.o.onWindowClosed?.(flows.lastWindow);
          },
        }, () => Number(systemClock.monoNs()));
      }
      try {
        await launched;
        return;
      } catch (e) {
        // One optional signal that fails to compile or attach must not stop
        // the others: drop the least essential one and try again.
        if (!(e instanceof TracerError) || signals.length <= 1) throw e;
        const victim = OPTIONAL_ORDER.map((n) => signals.find((s) => s.signal === n)).find(Boolean)!;
        this.warn(`signal ${victim.signal} (${victim.variant}) failed to start and is disabled: ${e.message.split('\n').slice(0, 3).join(' ')}`);
        signals = signals.filter((s) => s !== victim);
      }
    }
  }

  private async resolveFilters(f: Filters, reasons: ReasonTable, interfaces: InterfaceResolver): Promise<ResolvedFilters> {
    const codeOf = (name: string, flag: string) => {
      const c = reasons.codeOf(name);
      if (c === undefined) {
        const near = reasons.names().filter((n) => n.includes(name) || name.includes(n)).slice(0, 5);
        throw new UsageError(`--${flag}: ${name} is not a drop reason of this kernel${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`, 'List them with `droptrace probes --reasons`.');
      }
      return c;
    };
    const selfNs = netnsInodeOf('/proc/self/ns/net') ?? 0;
    const ifindexes: number[] = [];
    for (const i of f.ifaces) {
      if ('index' in i) ifindexes.push(i.index);
      else {
        const idx = interfaces.indexOf(selfNs, i.name);
        if (idx === undefined) throw new UsageError(`--filter-iface: no interface named ${i.name} in this network namespace`, 'Give its index instead to match an interface in another namespace.');
        ifindexes.push(idx);
      }
    }
    return {
      hosts: f.hosts, ports: f.ports, protos: f.protos, netns: f.netns, ifindexes,
      reasonCodes: f.reasons.map((r) => codeOf(r, 'filter-reason')),
      excludeReasonCodes: f.excludeReasons.map((r) => codeOf(r, 'exclude-reason')),
    };
  }

  /** Name the running tracer's programs by signal and read its map memory (once per bpftrace process). */
  private async inspectTracer(pid: number): Promise<void> {
    const objs = readBpfObjects(pid);
    if (!objs) return;
    this.stats.kernelMaps = { maps: objs.maps.length, keys: Math.max(0, ...objs.maps.map((m) => m.maxEntries)), bytes: objs.maps.reduce((s, m) => s + m.memlock, 0) };
    const names = await bpftoolProgNames();
    const events = this.included.map((s) => SIGNAL_EVENTS[s.signal]);
    const progs = objs.progs.filter((p) => names.has(p.id)).map((p) => ({ id: p.id, name: names.get(p.id)! }));
    const bySignal = attributePrograms(progs, events);
    // Named programs that are no signal's (BEGIN, END, the window tick) are
    // 'other': a skipped tick only delays a flip. Without names: unattributed.
    this.progSignals = new Map(progs.map((p) => [p.id, bySignal.has(p.id) ? this.included[bySignal.get(p.id)!].signal : 'other']));
  }

  /** Re-read the kernel's skip counters of the running bpftrace (call before stop() for the last value). */
  updateKernelMissed(): number {
    const pid = this.supervisor?.pid;
    const objs = pid ? readBpfObjects(pid) : undefined;
    for (const p of objs?.progs ?? []) {
      const seen = this.missesSeen.get(p.id) ?? 0;
      if (p.recursionMisses <= seen) continue;
      const n = p.recursionMisses - seen;
      this.missesSeen.set(p.id, p.recursionMisses);
      this.stats.kernelMissed += n;
      const sig = this.progSignals.get(p.id) ?? 'unattributed';
      this.stats.kernelMissedBySignal[sig] = (this.stats.kernelMissedBySignal[sig] ?? 0) + n;
    }
    return this.stats.kernelMissed;
  }

  /** Final flow records for flows still open (call after stop()). */
  finishFlows(): void {
    for (const r of this.flows?.finishEach() ?? []) this.o.onRecord(r);
  }

  private launch(program: string, extraEnv: Record<string, string>): Promise<void> {
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false;
      const sup = new Supervisor({
        command: this.capabilities.bpftrace.command,
        program,
        env: { BPFTRACE_PERF_RB_PAGES: String(this.o.perfRbPages ?? 256), ...extraEnv },
        onLine: (l) => this.onLine(l),
        // bpftrace >= 0.18 checks helper calls at run time by default and reports
        // each failure through its ring: a full map (counted by our totals
        // anyway) would flood it and push our own messages out. --no-warnings
        // compiles the checks out (0.17 has none by default).
        bpftraceArgs: versionAtLeast(this.capabilities.bpftrace.version, 0, 18) ? ['--no-warnings'] : [],
        // Aggregating programs stop through their tick (no message lost); streaming ones by SIGINT.
        requestStop: this.o.aggregate ? (pid) => setScalarMap(pid, 'stopreq', 1n) : undefined,
        onOverlong: (n) => this.onOverlong(n),
        onStderr: (l) => this.warn(`bpftrace: ${l}`),
        onGap: (g) => this.onGap(g),
        onReady: (pid, restarts) => {
          this.stats.restarts = restarts;
          this.suppressedSeen = 0;
          this.missesSeen = new Map();
          this.progSignals = new Map();
          void this.inspectTracer(pid);
          this.stallsSeen = 0;
          // A restarted tracer: whatever the old one printed at exit is its final window.
          this.windows?.end();
          this.flows?.attached(systemClock.monoNs());
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
      });
      this.supervisor = sup;
      this.running = sup.start();
      this.running.catch((e) => {
        if (!ready) rejectReady(e);
      });
    });
  }

  /** Resolves when the tracer stops; rejects if it gave up. */
  wait(): Promise<void> {
    return this.running;
  }

  get bpftracePid(): number | undefined {
    return this.supervisor?.pid;
  }

  async stop(): Promise<void> {
    // The program fds close with bpftrace: read the skip counters first.
    this.updateKernelMissed();
    await this.supervisor?.stop();
    this.stats.stoppedBy = this.supervisor?.stoppedBy ?? null;
    if (this.stats.stoppedBy === 'signal' && this.o.aggregate) this.warn('bpftrace did not stop on request (bpftool missing?): stopped with SIGINT, which can lose the messages it was handling (the last windows may be short)');
    this.flushStack();
    // bpftrace's exit print of our maps was the last, partial window.
    this.windows?.end();
    this.badLines.close();
  }

  /** False when bpftrace could outlive us on this host (no setpriv --pdeathsig). */
  get tracerDiesWithUs(): boolean {
    return this.supervisor?.diesWithParent ?? true;
  }

  /**
   * One line from bpftrace. Nothing in it may crash the collector: a line
   * that does not decode, or that fails further down (a bug for some value
   * we did not foresee), is counted as undecodable and the run goes on.
   */
  private onLine(line: string): void {
    this.stats.lines++;
    try {
      this.handle(line);
    } catch (e) {
      this.undecodable(line, `could not be processed: ${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}`);
    }
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

  /** A flush marker must name windows that exist at its timestamp; anything else would make impossible window times. */
  private implausibleFlush(from: number, to: number, ts: number, final: boolean): string | null {
    if (this.intervalNs === 0n) return null;
    // The window open at ts (the probe computes it the same way from nsecs).
    const now = (BigInt(ts) + this.intervalNs - this.phaseNs) / this.intervalNs;
    if (BigInt(from) > now + 1n) return `flush window ${from} is after the window at its timestamp (${now})`;
    if (!final && BigInt(to) > now + 1n) return `flush target window ${to} is after the window at its timestamp (${now})`;
    return null;
  }

  private handle(line: string): void {
    const m = decodeLine(line);
    switch (m.kind) {
      case 'event': {
        this.stats.events++;
        const ev = m.event;
        const rec = enrichEvent(this.enricher, ev);
        this.flushStack();
        // The drop's stack follows on the next lines, ended by a marker.
        if (this.o.kernelStack && ev.t === 'drop') this.pendingStack = { rec, frames: [] };
        else this.o.onRecord(rec);
        return;
      }
      case 'stack-frame':
        if (this.pendingStack && this.pendingStack.frames.length < 64) this.pendingStack.frames.push(m.address);
        return;
      case 'stack-end':
        this.flushStack();
        return;
      case 'flow-end':
        this.flows?.connectionEnded(m.end);
        return;
      case 'flush': {
        const bad = this.implausibleFlush(m.from, m.to, m.ts, m.final);
        // Its entries then count as printed outside a flush: into the window the kernel is counting (none lost).
        if (bad) return this.undecodable(line, bad);
        this.windows?.begin(m.from, m.ts, m.final, m.to);
        return;
      }
      case 'flush-end':
        this.windows?.end();
        return;
      case 'map-entry':
        this.windows?.entry(m.entry);
        return;
      case 'scalar':
        if (m.gen !== undefined && WINDOW_TOTALS.has(m.name)) {
          this.windows?.total(m.name, m.value);
        } else if (m.name === 'stalls') {
          // Cumulative ticks a window flip waited for userspace (see program.ts).
          if (m.value > this.stallsSeen) this.stats.windowStalls += m.value - this.stallsSeen;
          this.stallsSeen = m.value;
        } else if (m.name === 'suppressed') {
          // Cumulative per bpftrace process (reset on restart).
          if (m.value > this.suppressedSeen) this.stats.suppressed += m.value - this.suppressedSeen;
          this.suppressedSeen = m.value;
        }
        return;
      case 'helper-error':
        if (this.stats.helperErrors++ === 0) this.warn(`bpftrace reports a failing ${m.helper} (error ${m.retcode}); further ones are only counted`);
        return;
      case 'diagnostic':
        // After a diagnostic header (and its "Additional Info" line) comes our
        // program's source line, echoed, then the carets under it.
        this.echoExpected = m.header;
        return;
      case 'lost':
        this.stats.lost += m.count;
        this.o.onRecord(this.metaRecord('events-lost', { lost: { count: m.count } }));
        return;
      case 'undecodable':
        if (this.echoExpected) {
          this.echoExpected = false;
          return;
        }
        this.undecodable(m.line, m.why);
        return;
      default:
        return;
    }
  }

  private pendingStack: { rec: EcsRecord; frames: string[] } | null = null;
  /** A bpftrace diagnostic header was the last line: the next one echoes our source. */
  private echoExpected = false;

  /** Emit the drop waiting for its stack, with whatever frames arrived. */
  private flushStack(): void {
    const p = this.pendingStack;
    if (!p) return;
    this.pendingStack = null;
    const drop = (p.rec.droptrace as Record<string, any>).drop;
    if (drop) {
      const locs = p.frames.map((a) => this.enricher.symbolize(a));
      // A raw tracepoint's stack starts in our BPF program and the
      // bpf_trace_run* trampoline: cut everything up to and including it.
      const tramp = locs.map((l) => /^(bpf_trace_run\d|__bpf_trace_)/.test(l.symbol ?? '')).lastIndexOf(true);
      drop.stack = locs.slice(tramp + 1).map((l) => (l.symbol ? `${l.symbol}+0x${(l.offset ?? 0).toString(16)}${l.module ? ` [${l.module}]` : ''}` : l.address));
    }
    this.o.onRecord(p.rec);
  }

  private onGap(g: Gap): void {
    this.stats.gaps++;
    this.stats.restarts = g.restarts;
    this.o.onRecord(this.metaRecord('tracer-gap', {
      gap: { start: new Date(g.start).toISOString(), end: new Date(g.end).toISOString(), duration_ms: g.end - g.start, cause: g.cause, restarts: g.restarts },
    }));
  }

  private metaRecord(action: 'events-lost' | 'tracer-gap', extra: Record<string, unknown>): EcsRecord {
    const now = new Date().toISOString();
    return {
      '@timestamp': now,
      event: { kind: 'metric', category: ['network'], action, dataset: 'droptrace.drops' },
      host: { name: this.host },
      droptrace: { id: `${this.host}-${action}-${now}-${this.stats.lost}-${this.stats.gaps}`, ...extra },
    };
  }
}
