// A live file left by a crash (power loss) can end in a torn line. Cut it
// back to its last newline before appending, so the torn bytes never glue
// onto the next record and every line stays one whole JSON record.
import { ftruncateSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/** Returns the new size (≤ size); the fd must be open for reading and writing. */
export function cutTornTail(fd: number, size: number): number {
  if (size === 0) return 0;
  const buf = Buffer.allocUnsafe(CHUNK);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const n = readSync(fd, buf, 0, end - start, start);
    const nl = buf.subarray(0, n).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = start + nl + 1;
      if (keep !== size) ftruncateSync(fd, keep);
      return keep;
    }
    end = start;
  }
  ftruncateSync(fd, 0);
  return 0;
}
