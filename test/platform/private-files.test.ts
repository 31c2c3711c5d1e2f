// Directory policy (issue 10, row 7): create 0700 when missing; an existing
// directory is never chmod'ed — used when only we can write to it, refused
// with reason and fix when world-/group-writable or someone else's. Files:
// 0600, never through a symlink or a planted hard link, replaced atomically.
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendPrivate, openPrivateAppend, preparePrivateDir, PrivateFileError, writePrivateAtomically } from '../../src/platform/private-files.js';
import { SinkError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-pdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (mode?: number) => {
  const d = join(root, `d${++n}`);
  mkdirSync(d);
  if (mode !== undefined) chmodSync(d, mode);
  return d;
};
const me = process.geteuid!();
const modeOf = (d: string) => statSync(d).mode & 0o7777;

function refused(dir: string, o: Parameters<typeof preparePrivateDir>[1], re: RegExp): SinkError {
  const before = modeOf(dir);
  let err: unknown;
  try {
    preparePrivateDir(dir, o);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SinkError);
  expect((err as SinkError).message).toMatch(re);
  expect((err as SinkError).hint).toMatch(/let droptrace create its own directory/);
  expect(modeOf(dir)).toBe(before);
  return err as SinkError;
}

describe('preparePrivateDir', () => {
  it('creates a missing directory (and parents) 0700 and says it did', () => {
    const d = join(root, 'new', 'deeper');
    expect(preparePrivateDir(d)).toEqual({ created: true });
    expect(modeOf(d)).toBe(0o700);
    expect(modeOf(join(root, 'new'))).toBe(0o700);
  });

  it.each([0o700, 0o750, 0o755, 0o555])('uses an existing %o directory we own as it is', (mode) => {
    const d = fresh(mode);
    expect(preparePrivateDir(d)).toEqual({ created: false });
    expect(modeOf(d)).toBe(mode);
  });

  it('refuses world-writable directories (1777 and 0777) without touching them', () => {
    const e = refused(fresh(0o1777), { what: 'output directory' }, /^output directory .* is world-writable \(mode 01777\): any user could plant or swap files there/);
    expect(e.message).toContain('never changes the mode of a directory it did not create');
    expect(e.hint).toMatch(/chmod o-w/);
    refused(fresh(0o777), {}, /world-writable \(mode 0777\)/);
  });

  it('refuses a directory writable by a group other than root', () => {
    const d = fresh(0o770);
    // As root the directory's group is root's: give it to nogroup first.
    if (statSync(d).gid === 0) chownSync(d, me, 65534);
    refused(d, {}, /writable by group \d+ \(mode 0770\)/);
  });

  it('refuses a directory owned by another uid, naming both uids and the fix', () => {
    const d = fresh(0o755);
    const other = me + 4242;
    const e = refused(d, { euid: other, what: 'spool directory' }, new RegExp(`^spool directory .* is owned by uid ${me}, not by this process \\(uid ${other}\\)`));
    expect(e.hint).toContain(`chown ${other}`);
  });

  it('refuses a symlink and a non-directory', () => {
    const real = fresh();
    const link = join(root, 'link');
    symlinkSync(real, link);
    expect(() => preparePrivateDir(link)).toThrow(/is a symbolic link/);
    const file = join(root, 'file');
    writeFileSync(file, '');
    expect(() => preparePrivateDir(file)).toThrow(/exists and is not a directory/);
  });
});

describe('private files (the rotating files, spool, dead-letter and pcap state all use these)', () => {
  it('appendPrivate creates 0600 and appends; a looser mode on our own file is tightened', () => {
    const d = fresh();
    const f = join(d, 'a.ndjson');
    expect(appendPrivate(f, 'one\n')).toBe(4);
    expect(appendPrivate(f, 'two\n')).toBe(4);
    expect(readFileSync(f, 'utf8')).toBe('one\ntwo\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    chmodSync(f, 0o644);
    appendPrivate(f, 'three\n');
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('never follows a planted symlink, and says so with its errno (ELOOP)', () => {
    const d = fresh();
    const target = join(d, 'target');
    writeFileSync(target, 'secret');
    symlinkSync(target, join(d, 'link'));
    let err: unknown;
    try {
      appendPrivate(join(d, 'link'), 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PrivateFileError);
    expect((err as PrivateFileError).code).toBe('ELOOP');
    expect((err as Error).message).toMatch(/is a symbolic link; refusing to follow it/);
    expect(readFileSync(target, 'utf8')).toBe('secret');
  });

  it('refuses a planted hard link (it would write into its target) and a non-regular file', () => {
    const d = fresh();
    const target = join(d, 'target');
    writeFileSync(target, 'keep');
    linkSync(target, join(d, 'hard'));
    expect(() => appendPrivate(join(d, 'hard'), 'x')).toThrow(/2 hard links; refusing to write to it/);
    expect(readFileSync(target, 'utf8')).toBe('keep');
    mkdirSync(join(d, 'sub'));
    expect(() => appendPrivate(join(d, 'sub'), 'x')).toThrow(SinkError);
  });

  it('openPrivateAppend exclusive: a file that appeared meanwhile is refused', () => {
    const d = fresh();
    writeFileSync(join(d, 'x'), '');
    expect(() => openPrivateAppend(join(d, 'x'), true)).toThrow(/appeared while rotating/);
    const { fd, size } = openPrivateAppend(join(d, 'y'), true);
    closeSync(fd);
    expect(size).toBe(0);
  });

  it('writePrivateAtomically replaces the whole file through a temp (0600), leaving no temp; a stale temp is replaced, a symlinked one never followed', () => {
    const d = fresh();
    const f = join(d, 'state.json');
    writePrivateAtomically(f, 'v1');
    writePrivateAtomically(f, 'v2');
    expect(readFileSync(f, 'utf8')).toBe('v2');
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(d)).toEqual(['state.json']);
    // A temp left by a crash: replaced.
    writeFileSync(`${f}.tmp`, 'half');
    writePrivateAtomically(f, 'v3');
    expect(readFileSync(f, 'utf8')).toBe('v3');
    // A symlink planted as the temp: removed as a link, its target untouched.
    const target = join(d, 'victim');
    writeFileSync(target, 'safe');
    symlinkSync(target, `${f}.tmp`);
    writePrivateAtomically(f, 'v4');
    expect(readFileSync(target, 'utf8')).toBe('safe');
    expect(readFileSync(f, 'utf8')).toBe('v4');
    expect(existsSync(`${f}.tmp`)).toBe(false);
  });
});
