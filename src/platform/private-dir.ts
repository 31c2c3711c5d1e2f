// Directories droptrace writes private files into (output dir, spool, the
// dead-letter file's directory). Policy:
//   - missing: created 0700 (with any missing parents), so it is ours;
//   - existing: never chmod'ed — it is not ours to change (a 1777 /tmp-like
//     directory silently turned 0700 breaks everyone else using it). It is
//     used as it is when it is a real directory (not a symlink) owned by our
//     euid that no one else can write to; a root-owned 0755 directory (what
//     systemd's StateDirectory= or a Kubernetes hostPath creates) is fine.
//     World-writable, group-writable (by a group other than root) or
//     foreign-owned: refused with the reason and the fix — anyone who can write
//     there can rename, replace or plant files between our checks.
// Files inside are created 0600 by their writers. Ancestors are not checked
// (/var/run → /run is normal); an attacker who can write to one is out of scope.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { SinkError } from '../errors.js';

export const DIR_MODE = 0o700;
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

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
