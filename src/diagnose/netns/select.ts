// --netns / --filter-netns values: a namespace inode, or a /run/netns name.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

export function resolveNetnsArgs(values: readonly string[] | undefined, flag: string, runNetns = '/run/netns'): Set<number> {
  const out = new Set<number>();
  for (const raw of (values ?? []).flatMap((v) => v.split(','))) {
    const v = raw.trim();
    if (/^\d+$/.test(v)) {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n <= 0 || n > 0xffffffff) throw new UsageError(`--${flag}: ${v} is not a namespace inode`);
      out.add(n);
    } else if (NAME.test(v) && v !== '..') {
      try {
        out.add(statSync(join(runNetns, v)).ino);
      } catch {
        throw new UsageError(`--${flag}: no network namespace named ${JSON.stringify(v)} under ${runNetns}`, 'Give a namespace inode (stat -Lc %i /proc/PID/ns/net) or a name from `ip netns list`.');
      }
    } else throw new UsageError(`--${flag}: ${JSON.stringify(v)} is neither a namespace inode nor a namespace name`);
  }
  return out;
}
