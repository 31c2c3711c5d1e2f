// The last-resort handler of a long-running command: an exception nobody
// caught (a bug) must not end the process before what it holds is safe.
// It logs the error once, runs the command's own shutdown (stop bpftrace so
// its programs leave the kernel, flush and close every sink), bounded by a
// timeout, and exits non-zero (70, EX_SOFTWARE) — never silently carries on
// in an unknown state.

export const FATAL_EXIT = 70;

export interface LastResortOptions {
  log: (msg: string) => void;
  /** Stops the tracer and flushes/closes the sinks; called at most once. */
  shutdown: () => Promise<void>;
  timeoutMs?: number;
  exit?: (code: number) => void;
}

export function installLastResort(o: LastResortOptions): () => void {
  let fatal = false;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const handler = (err: unknown) => {
    const text = (err as Error)?.stack ?? String(err);
    if (fatal) {
      o.log(`another internal error during the emergency shutdown: ${text}`);
      return;
    }
    fatal = true;
    o.log(`internal error (this is a bug, please report it): ${text}`);
    o.log('emergency shutdown: stopping bpftrace, flushing and closing every sink, then exiting with status 70');
    const timer = setTimeout(() => {
      o.log(`emergency shutdown did not finish within ${(o.timeoutMs ?? 20_000) / 1000} s; exiting anyway`);
      exit(FATAL_EXIT);
    }, o.timeoutMs ?? 20_000);
    o.shutdown()
      .catch((e) => o.log(`emergency shutdown failed: ${(e as Error)?.stack ?? e}`))
      .finally(() => {
        clearTimeout(timer);
        exit(FATAL_EXIT);
      });
  };
  process.on('uncaughtException', handler);
  process.on('unhandledRejection', handler);
  return () => {
    process.off('uncaughtException', handler);
    process.off('unhandledRejection', handler);
  };
}
