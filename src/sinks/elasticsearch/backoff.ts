// Jittered exponential backoff, 1 s → 60 s by default ("full jitter" over the
// upper half: never faster than half the step, so a fleet of sidecars spreads
// out without any of them hammering a recovering cluster).
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, o: BackoffOptions = {}): number {
  const initial = o.initialMs ?? 1000;
  const max = o.maxMs ?? 60_000;
  const step = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const r = (o.random ?? Math.random)();
  return Math.round(step / 2 + (step / 2) * r);
}

/** Resolves after ms, or early (false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
