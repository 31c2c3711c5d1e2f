// The lines a command prints about itself on stderr: "droptrace: …", secrets
// masked, terminal controls escaped; warnings and errors through a repeat
// limiter (a full disk is one line a minute, counted).
import type { Writable } from 'node:stream';
import { escapeForTerminal } from '../text/escape.js';
import { redact } from '../text/redact.js';
import { RepeatLimiter } from '../platform/log-limiter.js';

export interface Console {
  /** A line as it is (start-up, stop, stats). */
  info(m: string): void;
  /** A line that may repeat (folded: once, then a count a minute). */
  log(m: string): void;
  /** Lines folded so far. */
  readonly suppressed: number;
  close(): void;
}

export function stderrConsole(stderr: Writable, o: { timer?: boolean } = { timer: true }): Console {
  const info = (m: string) => stderr.write(`droptrace: ${escapeForTerminal(redact(m))}\n`);
  const limiter = new RepeatLimiter(info, { timer: o.timer });
  return {
    info,
    log: (m) => limiter.log(m),
    get suppressed() {
      return limiter.suppressed;
    },
    close: () => limiter.close(),
  };
}
