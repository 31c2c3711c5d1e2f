// How a long-running session ends: a signal, the launcher going away (npx),
// its --duration, or the tracer giving up.
import { watchParent } from '../platform/parent-watch.js';

export interface StopOptions {
  /** Told why we stop when it is not a signal or the duration (e.g. the npx launcher went away). */
  onReason?: (why: string) => void;
  /** Injected for tests: watches the launcher (default platform/parent-watch). */
  watch?: (onGone: (why: string) => void) => () => void;
}

/**
 * Resolves on SIGINT, SIGTERM or SIGHUP (the terminal or the shell that
 * started us went away; Node would otherwise die without flushing), when
 * the npm/npx launcher that started us is gone, or after the duration.
 */
export function untilStopped(ms: number | undefined, also?: Promise<unknown>, o: StopOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = ms !== undefined ? setTimeout(() => done('duration'), ms) : null;
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, () => done(s)] as const);
    for (const [s, h] of handlers) process.once(s, h);
    const unwatch = (o.watch ?? ((onGone) => watchParent({ onGone })))((why) => {
      o.onReason?.(`stopping: ${why}`);
      done('launcher-gone');
    });
    function cleanup() {
      if (timer) clearTimeout(timer);
      for (const [s, h] of handlers) process.off(s, h);
      unwatch();
    }
    function done(why: string) {
      cleanup();
      resolve(why);
    }
    also?.then(() => done('tracer-exit'), (e) => {
      cleanup();
      reject(e);
    });
  });
}
