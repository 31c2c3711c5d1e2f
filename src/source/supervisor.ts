// Runs bpftrace and keeps it running: spawn with an argv array (no shell, no
// --unsafe, minimal environment), split stdout into lines, report "ready" when
// the BEGIN probe prints (bpftrace runs BEGIN only after attaching every probe),
// restart with backoff after a crash and report the gap, give up after
// repeated fast failures, and stop cleanly (SIGINT, drain, then SIGKILL).
// bpftrace is tied to our life with a parent-death signal (platform/die-with-parent.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dieWithParent, findDeathWrapper } from '../platform/die-with-parent.js';
import { StringDecoder } from 'node:string_decoder';
import { TracerError } from '../errors.js';
import { type BpftraceCommand, childEnv } from './bpftrace-binary.js';
import { LineSplitter } from './line-splitter.js';

export interface Gap {
  /** Wall-clock ms when the tracer died and when it was attached again. */
  start: number;
  end: number;
  cause: string;
  restarts: number;
}

export interface SupervisorOptions {
  command: BpftraceCommand;
  program: string;
  /** Extra environment for bpftrace (e.g. BPFTRACE_PERF_RB_PAGES). */
  env?: Record<string, string>;
  onLine: (line: string) => void;
  onReady: (pid: number, restarts: number) => void;
  onGap: (gap: Gap) => void;
  onStderr?: (line: string) => void;
  /**
   * Ask the running bpftrace to exit by itself (its program calls exit()),
   * before falling back to SIGINT: resolves true when the request was made.
   */
  requestStop?: (pid: number) => Promise<boolean>;
  /**
   * A requested stop waits for bpftrace to exit while its output still flows
   * (it handles every queued window before exiting: a backlog of big windows
   * takes a while), and falls back to SIGINT after this long without a line,
   * or after 20× this long in all.
   */
  stopRequestMs?: number;
  /** A line longer than maxLineBytes was cut and skipped (its length so far). */
  onOverlong?: (length: number) => void;
  maxLineBytes?: number;
  /**
   * Wrapper that kills bpftrace when we die (setpriv path), null for none;
   * default: found on the system path.
   */
  deathWrapper?: string | null;
  /** Options for bpftrace before the program (e.g. --no-warnings). */
  bpftraceArgs?: string[];
  /** Consecutive failures (exit before `healthyAfterMs` of running) before giving up. */
  maxFastFailures?: number;
  healthyAfterMs?: number;
  backoffMs?: (attempt: number) => number;
  stopGraceMs?: number;
  now?: () => number;
}

// bpftrace 0.17 prints this on every start as root under a low memlock limit;
// it is harmless (the kernel accounts BPF memory to memcg since 5.11).
const NOISE = [/couldn't set RLIMIT_MEMLOCK/, /^\s*$/];

export class Supervisor {
  private child: ChildProcess | null = null;
  private stopping = false;
  private restarts = 0;
  private fastFailures = 0;
  private startedAt = 0;
  private readyOnce = false;
  private diedAt: number | null = null;
  private lastCause = '';
  /** Why spawn itself failed (ENOENT, EACCES): then 'close' reports only code -2 or similar. */
  private spawnError: string | null = null;
  private stderrTail: string[] = [];
  private done!: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (e: Error) => void;
  private restartTimer: NodeJS.Timeout | null = null;
  private childExited: Promise<void> = Promise.resolve();
  private readonly o: Required<Omit<SupervisorOptions, 'env' | 'onStderr' | 'onOverlong' | 'maxLineBytes' | 'deathWrapper' | 'requestStop'>> &
    Pick<SupervisorOptions, 'env' | 'onStderr' | 'onOverlong' | 'maxLineBytes' | 'deathWrapper' | 'requestStop'>;

  constructor(opts: SupervisorOptions) {
    this.o = {
      maxFastFailures: 5,
      healthyAfterMs: 10_000,
      backoffMs: (n) => Math.min(5000, 250 * 2 ** n),
      stopGraceMs: 5000,
      stopRequestMs: 3000,
      bpftraceArgs: [],
      now: Date.now,
      ...opts,
    };
  }

  /** False when bpftrace could outlive us (no setpriv with --pdeathsig on this host). */
  get diesWithParent(): boolean {
    return this.wrapper() !== null;
  }

  private wrapper(): string | null {
    return this.o.deathWrapper === undefined ? findDeathWrapper() : this.o.deathWrapper;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get restartCount(): number {
    return this.restarts;
  }

  /** Resolves when stopped normally; rejects with TracerError when giving up. */
  start(): Promise<void> {
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.spawnOnce();
    return this.done;
  }

  private spawnOnce(): void {
    const { command } = this.o;
    const args = [...command.prefixArgs, ...this.o.bpftraceArgs, '-e', this.o.program];
    this.startedAt = this.o.now();
    this.stderrTail = [];
    this.spawnError = null;
    let child: ChildProcess;
    try {
      // Through the wrapper a missing binary would only show as the shell's
      // exit status: say ENOENT/EACCES plainly, as a direct spawn does.
      accessSync(command.file, constants.X_OK);
      const run = dieWithParent(command.file, args, this.wrapper());
      child = spawn(run.file, run.args, { env: { ...childEnv(), ...this.o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.rejectDone(new TracerError(`could not start ${command.display}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
      return;
    }
    this.child = child;
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    const lines = new LineSplitter((l) => this.handleLine(l, child), this.o.maxLineBytes, (n) => this.o.onOverlong?.(n));
    const errLines = new LineSplitter((l) => this.handleStderr(l));
    child.stdout!.on('data', (b: Buffer) => lines.push(out.write(b)));
    child.stderr!.on('data', (b: Buffer) => errLines.push(err.write(b)));
    let stdoutClosed: () => void;
    const stdoutDone = new Promise<void>((r) => (stdoutClosed = r));
    child.stdout!.on('end', () => {
      lines.push(out.end());
      lines.end();
      stdoutClosed();
    });
    child.stderr!.on('end', () => {
      errLines.push(err.end());
      // A last stderr line without a newline (often the error itself) counts too.
      errLines.end();
    });
    this.childExited = new Promise((resolve) => {
      child.on('error', (e) => {
        this.spawnError = e.message;
      });
      child.on('close', (code, signal) => {
        void stdoutDone.then(() => {
          resolve();
          this.onExit(code, signal);
        });
      });
    });
  }

  private handleLine(line: string, child: ChildProcess): void {
    this.lastLineAt = Date.now();
    if (line === '{"t":"ready"}') {
      const restarts = this.restarts;
      if (this.diedAt !== null) {
        this.o.onGap({ start: this.diedAt, end: this.o.now(), cause: this.lastCause, restarts });
        this.diedAt = null;
      }
      this.readyOnce = true;
      this.o.onReady(child.pid ?? 0, restarts);
      return;
    }
    this.o.onLine(line);
  }

  private handleStderr(line: string): void {
    if (NOISE.some((re) => re.test(line))) return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > 20) this.stderrTail.shift();
    this.o.onStderr?.(line);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.child = null;
    if (this.stopping) {
      this.resolveDone();
      return;
    }
    const ranFor = this.o.now() - this.startedAt;
    const cause = this.spawnError ? `could not run ${this.o.command.display}: ${this.spawnError}` : signal ? `bpftrace killed by ${signal}` : `bpftrace exited with code ${code}`;
    const detail = this.stderrTail.join('\n').trim();
    this.lastCause = detail ? `${cause}: ${detail.slice(0, 500)}` : cause;
    if (!this.readyOnce) {
      // Never attached: a compile or attach error. Restarting would not help.
      this.rejectDone(new TracerError(`bpftrace failed before attaching its probes (${cause})${detail ? ':\n' + detail : ''}`));
      return;
    }
    if (this.diedAt === null) this.diedAt = this.o.now();
    this.fastFailures = ranFor < this.o.healthyAfterMs ? this.fastFailures + 1 : 0;
    if (this.fastFailures >= this.o.maxFastFailures) {
      this.rejectDone(new TracerError(`bpftrace keeps failing (${this.fastFailures} times within ${this.o.healthyAfterMs / 1000}s each); giving up. Last: ${this.lastCause}`));
      return;
    }
    const delay = this.o.backoffMs(this.fastFailures);
    this.restarts++;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawnOnce();
      else this.resolveDone();
    }, delay);
  }

  /** How the last stop went: 'requested' (the program exited by itself, nothing lost), 'signal' (SIGINT: messages in flight may be lost), or null. */
  stoppedBy: 'requested' | 'signal' | null = null;
  /** When bpftrace last printed a line (a requested stop waits while output flows). */
  private lastLineAt = 0;

  /** Stop bpftrace, drain its output, resolve start()'s promise. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
      this.resolveDone();
    }
    const child = this.child;
    const running = () => !!child && child.exitCode === null && child.signalCode === null;
    if (child && running() && child.pid !== undefined && this.o.requestStop) {
      // A requested stop loses no queued message (see src/source/program.ts).
      const asked = await this.o.requestStop(child.pid).catch(() => false);
      if (asked) {
        const t0 = Date.now();
        this.lastLineAt = t0;
        let exited = false;
        void this.childExited.then(() => (exited = true));
        while (!exited && Date.now() - this.lastLineAt < this.o.stopRequestMs && Date.now() - t0 < 20 * this.o.stopRequestMs) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([this.childExited, new Promise<void>((r) => (timer = setTimeout(r, 100)))]);
          clearTimeout(timer);
        }
      }
    }
    if (child && !running() && this.stoppedBy === null) this.stoppedBy = 'requested';
    if (child && running()) {
      this.stoppedBy = 'signal';
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.o.stopGraceMs);
      await this.childExited;
      clearTimeout(timer);
    }
    await this.done.catch(() => undefined);
  }
}
