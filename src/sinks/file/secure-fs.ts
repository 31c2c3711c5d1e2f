// Private files for the NDJSON sink: 0600 regular files in a directory only
// we can write to (platform/private-dir.ts: created 0700, or an existing one
// checked and never chmod'ed), never reached through a planted symlink or
// hard link.
import { constants, fchmodSync, fstatSync, closeSync, openSync, type Stats } from 'node:fs';
import { preparePrivateDir, DIR_MODE } from '../../platform/private-dir.js';
import { SinkError } from '../../errors.js';

// libuv opens every fd close-on-exec already (bpftrace is spawned by us).
const { O_RDONLY, O_RDWR, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

export { DIR_MODE };
export const FILE_MODE = 0o600;

const euid = (): number | undefined => process.geteuid?.();

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}

/** Create `dir` (0700) or check an existing one; throws SinkError when it cannot be used safely. */
export function ensurePrivateDir(dir: string): void {
  preparePrivateDir(dir, { what: 'output directory' });
}

/** Throws SinkError unless `st` is a private regular file we own with a single link. */
function checkOwnFile(path: string, fd: number, st: Stats): void {
  if (!st.isFile()) throw new SinkError(`${path} is not a regular file; refusing to write to it`);
  const me = euid();
  if (me !== undefined && st.uid !== me) throw new SinkError(`${path} is owned by uid ${st.uid}, not by this process; refusing to write to it`);
  // A hard link planted in our directory would make us write into its target.
  if (st.nlink !== 1) throw new SinkError(`${path} has ${st.nlink} hard links; refusing to write to it`);
  if ((st.mode & 0o777) !== FILE_MODE) fchmodSync(fd, FILE_MODE);
}

/**
 * Open `path` for appending, never through a symlink. `exclusive` insists on
 * creating it (used right after a rotation, when nothing may exist there).
 * Returns the fd and the current size.
 */
export function openPrivateAppend(path: string, exclusive = false): { fd: number; size: number; birthMs: number } {
  let fd: number;
  try {
    // Read access too: a torn last line is cut back on resume (tail-repair.ts).
    fd = openSync(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | (exclusive ? O_EXCL : 0), FILE_MODE);
  } catch (e) {
    const c = code(e);
    if (c === 'ELOOP') throw new SinkError(`${path} is a symbolic link; refusing to follow it`, 'Remove the link; droptrace creates its files itself.');
    if (c === 'EEXIST') throw new SinkError(`${path} appeared while rotating (was something planted there?); refusing to write to it`);
    throw new SinkError(`cannot open ${path}: ${c ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    checkOwnFile(path, fd, st);
    return { fd, size: st.size, birthMs: st.birthtimeMs };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** O_NOFOLLOW flags for reading a rotated file and creating its .gz temp. */
export const READ_NOFOLLOW = O_RDONLY | O_NOFOLLOW;
export const CREATE_NEW_NOFOLLOW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
