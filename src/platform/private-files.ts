// Private files: everything droptrace writes that holds records or state —
// the rotating NDJSON files, the Elasticsearch spool and dead-letter file, the
// pcap state file — goes through here, one policy for all.
// Directories (output dir, spool, the dead-letter file's directory, state dir):
//   - missing: created 0700 (with any missing parents), so it is ours;
//   - existing: never chmod'ed — it is not ours to change (a 1777 /tmp-like
//     directory silently turned 0700 breaks everyone else using it). It is
//     used as it is when it is a real directory (not a symlink) owned by our
//     euid that no one else can write to; a root-owned 0755 directory (what
//     systemd's StateDirectory= or a Kubernetes hostPath creates) is fine.
//     World-writable, group-writable (by a group other than root) or
//     foreign-owned: refused with the reason and the fix — anyone who can write
//     there can rename, replace or plant files between our checks.
// Files: 0600, opened without following a symlink (O_NOFOLLOW), a file we
// append to must be a regular file we own with one link (a planted hard link
// would make us write into its target), and replacing one is write-new +
// rename. Ancestors are not checked (/var/run → /run is normal); an attacker
// who can write to one is out of scope.
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { SinkError } from '../errors.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
// libuv opens every fd close-on-exec already (bpftrace is spawned by us).
const { O_RDONLY, O_RDWR, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW } = constants;
/** Reading one of our files (or a rotated one), never through a symlink. */
export const READ_NOFOLLOW = O_RDONLY | O_NOFOLLOW;
/** Creating a file that must not exist yet (a temp file, a .gz), never through a symlink. */
export const CREATE_NEW_NOFOLLOW = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

export interface PrivateDirOptions {
  /** What the directory is for, in messages ("output directory", "spool directory", …). */
  what?: string;
  euid?: number;
}

const code = (e: unknown) => (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message;
const octal = (mode: number) => '0' + (mode & 0o7777).toString(8);

/** Create `dir` (0700) or check an existing one without changing it; throws SinkError when it cannot be used safely. */
export function preparePrivateDir(dir: string, o: PrivateDirOptions = {}): { created: boolean } {
  const what = o.what ?? 'output directory';
  let created = false;
  let st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st) {
    try {
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    } catch (e) {
      throw new SinkError(`cannot create ${what} ${dir}: ${code(e)}`);
    }
    created = true;
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new SinkError(`${what} ${dir} is a symbolic link; refusing to follow it`, 'Point droptrace at the real path.');
  if (!st.isDirectory()) throw new SinkError(`${what} ${dir} exists and is not a directory`);
  // Check what we will use through an O_NOFOLLOW descriptor, not whatever the path names a moment later.
  let fd: number;
  try {
    fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (e) {
    throw new SinkError(`cannot open ${what} ${dir}: ${code(e)}`);
  }
  try {
    const fst = fstatSync(fd);
    const me = o.euid ?? process.geteuid?.();
    const fix = `or let droptrace create its own directory (a path that does not exist yet; it is made ${octal(DIR_MODE)})`;
    if (me !== undefined && fst.uid !== me) {
      throw new SinkError(`${what} ${dir} is owned by uid ${fst.uid}, not by this process (uid ${me}); refusing to write there`, `chown ${me} ${dir}, ${fix}.`);
    }
    if (fst.mode & 0o002) {
      throw new SinkError(
        `${what} ${dir} is world-writable (mode ${octal(fst.mode)}): any user could plant or swap files there; refusing to use it (droptrace never changes the mode of a directory it did not create)`,
        `Use a dedicated directory: chmod o-w ${dir} if it is yours alone, ${fix}.`,
      );
    }
    if (fst.mode & 0o020 && fst.gid !== 0) {
      throw new SinkError(
        `${what} ${dir} is writable by group ${fst.gid} (mode ${octal(fst.mode)}): its members could plant or swap files there; refusing to use it (droptrace never changes the mode of a directory it did not create)`,
        `chmod g-w ${dir}, ${fix}.`,
      );
    }
  } finally {
    closeSync(fd);
  }
  return { created };
}

const euid = (): number | undefined => process.geteuid?.();

/** A private file that cannot be used safely: the errno code when the system refused it (ELOOP: a symlink). */
export class PrivateFileError extends SinkError {
  constructor(message: string, readonly code?: string, hint?: string) {
    super(message, hint);
  }
}

/** Throws SinkError unless `st` is a private regular file we own with a single link; tightens its mode to 0600. */
function checkOwnFile(path: string, fd: number, st: Stats): void {
  if (!st.isFile()) throw new SinkError(`${path} is not a regular file; refusing to write to it`);
  const me = euid();
  if (me !== undefined && st.uid !== me) throw new SinkError(`${path} is owned by uid ${st.uid}, not by this process; refusing to write to it`);
  // A hard link planted in our directory would make us write into its target.
  if (st.nlink !== 1) throw new SinkError(`${path} has ${st.nlink} hard links; refusing to write to it`);
  if ((st.mode & 0o777) !== FILE_MODE) fchmodSync(fd, FILE_MODE);
}

/**
 * Open `path` for appending (and reading back), never through a symlink.
 * `exclusive` insists on creating it (used right after a rotation, when
 * nothing may exist there). Returns the fd and the current size.
 */
export function openPrivateAppend(path: string, exclusive = false): { fd: number; size: number; birthMs: number } {
  let fd: number;
  try {
    // Read access too: a torn last line is cut back on resume (sinks/file/tail-repair.ts).
    fd = openSync(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | (exclusive ? O_EXCL : 0), FILE_MODE);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException)?.code;
    if (c === 'ELOOP') throw new PrivateFileError(`${path} is a symbolic link; refusing to follow it`, c, 'Remove the link; droptrace creates its files itself.');
    if (c === 'EEXIST') throw new PrivateFileError(`${path} appeared while rotating (was something planted there?); refusing to write to it`, c);
    throw new PrivateFileError(`cannot open ${path}: ${c ?? (e as Error).message}`, c);
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

/** Append `data` to a private file (created 0600 if missing); returns the bytes written. */
export function appendPrivate(path: string, data: string): number {
  const { fd } = openPrivateAppend(path);
  try {
    return writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replace `path` with `data` all at once: a new temp file (O_EXCL, never
 * through a symlink, fsynced), then a rename over the old one. A crash leaves
 * the old file or the new one, never half of either.
 */
export function writePrivateAtomically(path: string, data: string, o: { tmpSuffix?: string } = {}): void {
  const tmp = `${path}${o.tmpSuffix ?? '.tmp'}`;
  // A temp left by a run that crashed before its rename (writers of one
  // directory hold its lock; others pass a suffix of their own, e.g. their pid).
  try {
    unlinkSync(tmp);
  } catch { /* none */ }
  const fd = openSync(tmp, CREATE_NEW_NOFOLLOW, FILE_MODE);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
