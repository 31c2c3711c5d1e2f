// `droptrace run` and `droptrace tail` as the session runs them, without a
// kernel or a real sink: the fake tracer (test/helpers/fake-session.ts) and
// sinks declared the way src/sinks/registry.ts declares the real ones. What
// the session promises a sink: opened only if the configuration asks for it,
// its directories prepared and locked first, every record, a final
// self-stats record, flushed and closed after the tracer stopped; a sink
// that cannot open stops everything before a probe is loaded.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runSidecar, streamOf, type RunOptions } from '../../src/session/run.js';
import { runTail, type TailOptions } from '../../src/session/tail.js';
import { loadOptions, type OptionSpec } from '../../src/config/index.js';
import { RUN_OPTIONS, TAIL_OPTIONS } from '../../src/cli/options.js';
import { sinkOptions } from '../../src/sinks/registry.js';
import type { Sink, SinkConfig, SinkDefinition } from '../../src/sinks/sink.js';
import { acquireLock, LockHeldError } from '../../src/platform/lock.js';
import { SinkError } from '../../src/errors.js';
import type { EcsRecord } from '../../src/record/ecs.js';
import { choice, dropLine, fakeSessionDeps, type FakeTracer } from '../helpers/fake-session.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  lines(): string[] {
    return this.text.split('\n').filter(Boolean);
  }
}

/** A sink that keeps what it is given, and what was done to it, in order. */
class MemorySink implements Sink {
  records: EcsRecord[] = [];
  calls: string[] = [];
  constructor(readonly name: string) {}
  write(r: EcsRecord): void {
    this.records.push(r);
  }
  async flush(): Promise<void> {
    this.calls.push('flush');
  }
  async close(): Promise<void> {
    this.calls.push('close');
  }
  stats(): Record<string, number> {
    return { written: this.records.length };
  }
}

interface FakeSink extends SinkDefinition {
  opened: MemorySink[];
}

/** A sink declared like the real ones: `--<name>-dir DIR` enables it; `fail` makes it refuse to open. */
function fakeSink(name: string, o: { fail?: boolean; lock?: boolean } = {}): FakeSink {
  const opened: MemorySink[] = [];
  return {
    name,
    opened,
    options: [{ name: `${name}-dir`, type: 'string', path: true, group: { title: name }, describe: `Write records under this directory (${name})` }],
    enabled: (cfg: SinkConfig) => cfg[`${name}-dir`] !== undefined,
    directories: (cfg: SinkConfig) => [{ path: cfg[`${name}-dir`] as string, what: `${name} directory`, flag: `--${name}-dir`, lock: o.lock ?? true }],
    open: async () => {
      if (o.fail) throw new SinkError(`${name}: refused`);
      const s = new MemorySink(name);
      opened.push(s);
      return s;
    },
  };
}

interface Started {
  done: Promise<void>;
  tracers: FakeTracer[];
  stdout: Collect;
  stderr: Collect;
  /** Stop it the way a signal or the launcher going away does. */
  stop(): void;
}

/** `run` with these flags (through the option system, with the fake sinks' options), on the fake tracer. */
function startRun(argv: Record<string, unknown>, sinks: readonly SinkDefinition[]): Started {
  const specs: OptionSpec[] = [...RUN_OPTIONS, ...sinkOptions(sinks)];
  const { config } = loadOptions(specs, { argv, env: {} });
  const tracers: FakeTracer[] = [];
  const stdout = new Collect();
  const stderr = new Collect();
  let stopNow: ((why: string) => void) | undefined;
  const done = runSidecar(config as unknown as RunOptions, {
    stdout,
    stderr,
    sinks,
    uid: 0,
    diagnoser: null,
    readCounters: async () => new Map(),
    lastResort: () => () => undefined,
    stop: { watch: (onGone) => ((stopNow = onGone), () => undefined) },
    session: fakeSessionDeps({ signals: [choice('drops')], root, tracers }),
  });
  return { done, tracers, stdout, stderr, stop: () => stopNow!('test over') };
}

const dataset = (r: EcsRecord) => (r.event as { dataset?: string }).dataset;

describe('run: sinks from the registry', () => {
  it('opens the sink the configuration asks for, locks its directory, and gives it every record, a final self-stats, then flush and close', async () => {
    const wanted = fakeSink('mem');
    const unwanted = fakeSink('other');
    const dir = join(root, 'mem-1');
    const r = startRun({ 'mem-dir': dir, events: true }, [wanted, unwanted]);
    await vi.waitFor(() => expect(r.stderr.text).toContain('tracing drops'));
    // Prepared private before anything opened, and held: a second writer is refused.
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await expect(acquireLock(dir)).rejects.toBeInstanceOf(LockHeldError);
    r.tracers[0].line(dropLine(), dropLine({ dport: 9998 }));
    r.stop();
    await r.done;

    expect(unwanted.opened).toHaveLength(0);
    const [mem] = wanted.opened;
    const events = mem.records.filter((x) => (x.event as { action?: string }).action === 'packet-dropped' && dataset(x) !== 'droptrace.flows');
    expect(events.map((x) => (x.destination as { port: number }).port)).toEqual([9999, 9998]);
    const last = mem.records.at(-1)!;
    expect(dataset(last)).toBe('droptrace.stats');
    expect((last.droptrace as { stats: { final: boolean; sinks: Record<string, unknown> } }).stats).toMatchObject({ final: true, sinks: { mem: { written: mem.records.length - 1 } } });
    expect(mem.calls).toEqual(['flush', 'close']);
    // Nothing on stdout when a sink is configured; the accounting on stderr; the lock released.
    expect(r.stdout.text).toBe('');
    expect(r.stderr.text).toMatch(/final accounting: .*"mem":\{"written":\d+\}/);
    expect(r.tracers[0].stops).toBe(1);
    (await acquireLock(dir)).release();
  });

  it('with no sink configured, NDJSON on stdout', async () => {
    const r = startRun({ events: true }, [fakeSink('mem')]);
    await vi.waitFor(() => expect(r.stderr.text).toContain('tracing drops'));
    r.tracers[0].line(dropLine());
    r.stop();
    await r.done;
    const records = r.stdout.lines().map((l) => JSON.parse(l) as EcsRecord);
    expect(records.filter((x) => dataset(x) === 'droptrace.drops').length).toBeGreaterThanOrEqual(1);
    expect(dataset(records.at(-1)!)).toBe('droptrace.stats');
  });

  it('a sink that cannot open: those opened before are closed, no probe is loaded, the locks are released', async () => {
    const first = fakeSink('first');
    const broken = fakeSink('broken', { fail: true });
    const dirs = [join(root, 'first-2'), join(root, 'broken-2')];
    const r = startRun({ 'first-dir': dirs[0], 'broken-dir': dirs[1] }, [first, broken]);
    await expect(r.done).rejects.toThrow(SinkError);
    expect(first.opened[0].calls).toEqual(['close']);
    expect(r.tracers).toHaveLength(0);
    for (const d of dirs) (await acquireLock(d)).release();
  });

  it('a directory another writer holds: refused naming the holder, nothing opened, no probe loaded', async () => {
    const mem = fakeSink('mem');
    const dir = join(root, 'mem-3');
    const other = startRun({ 'mem-dir': dir }, [fakeSink('mem')]);
    await vi.waitFor(() => expect(other.stderr.text).toContain('tracing drops'));
    const r = startRun({ 'mem-dir': dir }, [mem]);
    await expect(r.done).rejects.toThrow(/in use by droptrace pid \d+ \(run --mem-dir\)/);
    expect(mem.opened).toHaveLength(0);
    expect(r.tracers).toHaveLength(0);
    other.stop();
    await other.done;
  });

  it('a directory a sink does not lock is prepared but may be shared', async () => {
    const dir = join(root, 'shared-4');
    const a = startRun({ 'shared-dir': dir }, [fakeSink('shared', { lock: false })]);
    await vi.waitFor(() => expect(a.stderr.text).toContain('tracing drops'));
    const b = startRun({ 'shared-dir': dir }, [fakeSink('shared', { lock: false })]);
    await vi.waitFor(() => expect(b.stderr.text).toContain('tracing drops'));
    a.stop();
    b.stop();
    await Promise.all([a.done, b.done]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});

describe('run: per-event records', () => {
  it('--events streams at --rate-limit; the deprecated --stream-rate N streams at N; neither, no events', () => {
    expect(streamOf({ events: true, 'rate-limit': 7, 'stream-rate': 0 })).toEqual({ ratePerSec: 7 });
    expect(streamOf({ events: false, 'rate-limit': 10_000, 'stream-rate': 5 })).toEqual({ ratePerSec: 5 });
    expect(streamOf({ events: false, 'rate-limit': 10_000, 'stream-rate': 0 })).toBeNull();
  });

  it('without --events the program emits no event; with --events at most --rate-limit a second', async () => {
    const programOf = async (argv: Record<string, unknown>) => {
      const r = startRun(argv, []);
      await vi.waitFor(() => expect(r.stderr.text).toContain('tracing drops'));
      const program = r.tracers[0].o.program;
      r.stop();
      await r.done;
      return program;
    };
    const none = await programOf({});
    expect(none).toMatch(/^\s*\$emit = 0;$/m);
    expect(none).not.toMatch(/\$emit = 1/);
    const limited = await programOf({ events: true, 'rate-limit': 250 });
    expect(limited).toContain('if (@rl_n < 250) { @rl_n = @rl_n + 1; $emit = 1; }');
  });
});

describe('tail', () => {
  function startTail(argv: Record<string, unknown>) {
    const { config } = loadOptions(TAIL_OPTIONS, { argv, env: {} });
    const tracers: FakeTracer[] = [];
    const stdout = new Collect();
    const stderr = new Collect();
    let stopNow: ((why: string) => void) | undefined;
    const done = runTail(config as TailOptions, {
      stdout, stderr, uid: 0,
      stop: { watch: (onGone) => ((stopNow = onGone), () => undefined) },
      session: fakeSessionDeps({ signals: [choice('drops')], root, tracers }),
    });
    return { done, tracers, stdout, stderr, stop: () => stopNow!('test over') };
  }

  it('one readable line per event, the account on stderr at the end', async () => {
    const t = startTail({ color: false });
    await vi.waitFor(() => expect(t.stderr.text).toContain('tracing drops'));
    t.tracers[0].line(dropLine());
    t.stop();
    await t.done;
    const lines = t.stdout.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/DROP +NO_SOCKET .*:40000 → .*:9999/);
    expect(t.stderr.text).toMatch(/1 events, 0 lost, 0 skipped by the kernel .*, 0 suppressed by --rate-limit, 0 undecodable lines, 0 restarts/);
  });

  it('--json: one ECS record per line', async () => {
    const t = startTail({ json: true });
    await vi.waitFor(() => expect(t.stderr.text).toContain('tracing drops'));
    t.tracers[0].line(dropLine(), dropLine({ sport: 40001 }));
    t.stop();
    await t.done;
    const records = t.stdout.lines().map((l) => JSON.parse(l) as EcsRecord);
    expect(records.map((r) => (r.source as { port: number }).port)).toEqual([40000, 40001]);
    expect(records.every((r) => dataset(r) === 'droptrace.drops')).toBe(true);
  });
});
