// Rate-limited repeated log lines: the same message (numbers ignored, or an
// explicit key) is printed once per window; repeats in that window are
// counted and summarized as "<last message> (repeated N times in the last
// 60 s)" when the window ends (timer or next occurrence) or on close(). A
// full disk or a dead Elasticsearch then costs a line a minute, not
// hundreds, and nothing is hidden: every repeat is in a count.

export interface RepeatLimiterOptions {
  windowMs?: number;
  now?: () => number;
  /** Summarize on a timer (unref'd); off: only on the next occurrence or close(). */
  timer?: boolean;
  /** Distinct keys remembered; the oldest is summarized and forgotten beyond it. */
  maxKeys?: number;
}

interface Entry {
  since: number;
  repeats: number;
  last: string;
}

/** Messages that differ only in numbers (counts, sizes, pids) are the same line. */
export const keyOf = (msg: string) => msg.replace(/\d+/g, '#');

export class RepeatLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;
  private timer: NodeJS.Timeout | null = null;
  /** Lines not printed (all keys, ever). */
  suppressed = 0;

  constructor(private readonly write: (line: string) => void, o: RepeatLimiterOptions = {}) {
    this.windowMs = o.windowMs ?? 60_000;
    this.now = o.now ?? Date.now;
    this.maxKeys = o.maxKeys ?? 1000;
    if (o.timer) {
      this.timer = setInterval(() => this.flush(), Math.max(1000, Math.floor(this.windowMs / 2)));
      this.timer.unref();
    }
  }

  log(msg: string, key = keyOf(msg)): void {
    const now = this.now();
    const e = this.entries.get(key);
    if (e && now - e.since < this.windowMs) {
      e.repeats++;
      e.last = msg;
      this.suppressed++;
      return;
    }
    if (e) this.summarize(key, e, now);
    this.entries.delete(key);
    if (this.entries.size >= this.maxKeys) {
      const [oldKey, old] = this.entries.entries().next().value as [string, Entry];
      this.summarize(oldKey, old, now);
      this.entries.delete(oldKey);
    }
    this.entries.set(key, { since: now, repeats: 0, last: msg });
    this.write(msg);
  }

  /** Summarize (and forget) every key whose window is over; all of them with `all`. */
  flush(all = false): void {
    const now = this.now();
    for (const [key, e] of this.entries) {
      if (!all && now - e.since < this.windowMs) continue;
      this.summarize(key, e, now);
      this.entries.delete(key);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush(true);
  }

  private summarize(_key: string, e: Entry, now: number): void {
    if (e.repeats === 0) return;
    const s = Math.max(1, Math.round((now - e.since) / 1000));
    this.write(`${e.last} (repeated ${e.repeats} time${e.repeats === 1 ? '' : 's'} in the last ${s} s)`);
    e.repeats = 0;
  }
}
