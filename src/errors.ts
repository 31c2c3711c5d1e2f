// Typed errors: every failure the CLI can report to a user is one of these.
// The CLI's single exit point prints `message` (and `hint`) without a stack
// trace and exits with `exitCode`. Anything else is a bug and shows a stack.

export class DroptraceError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? 1;
    this.hint = opts.hint;
  }
}

/** A flag, filter or config value is invalid. Raised before anything is spawned. */
export class UsageError extends DroptraceError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 2, hint });
  }
}

/** The host cannot run the tracer: not root, no bpftrace, no tracefs, … */
export class EnvironmentError extends DroptraceError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 3, hint });
  }
}

/** bpftrace failed repeatedly or could not compile/attach a required probe. */
export class TracerError extends DroptraceError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 4, hint });
  }
}

/** A sink (files, Elasticsearch) cannot be used at all. */
export class SinkError extends DroptraceError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: 5, hint });
  }
}
