// Before any sink opens: each directory a sink writes into is created 0700 or
// checked as it is (never chmod'ed: src/platform/private-files.ts), and the
// ones a single writer must own are locked (src/platform/lock.ts): a second
// run on the same output directory or spool is refused, naming the holder.
import { realpathSync } from 'node:fs';
import { preparePrivateDir } from '../platform/private-files.js';
import { acquireLock, type Lock } from '../platform/lock.js';
import type { SinkDirectory } from '../sinks/sink.js';

/** Prepare and lock them; on failure, what was locked is released and the error thrown. */
export async function lockSinkDirectories(dirs: readonly SinkDirectory[], o: { command: string; waitMs?: number }): Promise<Lock[]> {
  const locks: Lock[] = [];
  const held = new Set<string>();
  try {
    for (const d of dirs) {
      preparePrivateDir(d.path, { what: d.what });
      if (!d.lock) continue;
      const real = realpathSync(d.path);
      if (held.has(real)) continue;
      held.add(real);
      locks.push(await acquireLock(d.path, { purpose: `${o.command} ${d.flag}`, ...(o.waitMs !== undefined ? { waitMs: o.waitMs } : {}) }));
    }
  } catch (e) {
    for (const l of locks) l.release();
    throw e;
  }
  return locks;
}
