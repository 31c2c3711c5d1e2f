import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  resolveBpftrace, chooseBpftrace, parseVersion, versionAtLeast, childEnv, runBpftrace, bpftraceVersion, SYSTEM_PATH, type BpftraceCommand,
} from '../../src/source/bpftrace-binary.js';
import { EnvironmentError } from '../../src/errors.js';

let root: string;
const p = (...xs: string[]) => join(root, ...xs);

function exe(path: string, body = '#!/bin/sh\nexit 0\n'): string {
  writeFileSync(path, body);
  chmodSync(path, 0o755);
  return path;
}

function envError(fn: () => unknown): EnvironmentError {
  try {
    fn();
  } catch (e) {
    if (e instanceof EnvironmentError) return e;
    throw e;
  }
  throw new Error('no EnvironmentError thrown');
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'droptrace-bin-'));
  // A private install laid out like scripts/install-bpftrace-current's output.
  mkdirSync(p('private/usr/lib/x86_64-linux-gnu'), { recursive: true });
  mkdirSync(p('private/usr/bin'), { recursive: true });
  exe(p('private/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
  exe(p('private/usr/bin/bpftrace'));
  writeFileSync(p('private/droptrace-layout.json'), JSON.stringify({
    loader: p('private/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'),
    libraryPath: `${p('private/usr/lib/x86_64-linux-gnu')}:${p('private/lib/x86_64-linux-gnu')}`,
    bpftrace: p('private/usr/bin/bpftrace'),
  }));
  mkdirSync(p('bare-dir'));
  mkdirSync(p('bad-json'));
  writeFileSync(p('bad-json/droptrace-layout.json'), '{ not json');
  mkdirSync(p('bad-layout'));
  writeFileSync(p('bad-layout/droptrace-layout.json'), JSON.stringify({ loader: p('bad-layout/missing-ld.so'), libraryPath: '/x', bpftrace: '/y' }));
  mkdirSync(p('incomplete-layout'));
  writeFileSync(p('incomplete-layout/droptrace-layout.json'), JSON.stringify({ loader: p('private/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), libraryPath: 5 }));
  writeFileSync(p('not-executable'), '#!/bin/sh\n');
  chmodSync(p('not-executable'), 0o644);
  exe(p('bpftrace-exe'));
  // Search-path layout: dir1 has a non-executable bpftrace, dir2 a directory named bpftrace, dir3 the real one.
  for (const d of ['dir1', 'dir2', 'dir3', 'empty']) mkdirSync(p(d));
  writeFileSync(p('dir1/bpftrace'), 'not executable');
  mkdirSync(p('dir2/bpftrace'));
  exe(p('dir3/bpftrace'));
  symlinkSync(p('dir3/bpftrace'), p('link-to-bpftrace'));
  // Fake binaries for running --version.
  exe(p('v017'), '#!/bin/sh\necho "bpftrace v0.17.0"\n');
  exe(p('v023-stderr'), '#!/bin/sh\necho "bpftrace v0.23.2" >&2\n');
  exe(p('broken'), '#!/bin/sh\necho "error while loading shared libraries: libbpf.so.1" >&2\nexit 127\n');
  exe(p('echo-args'), '#!/bin/sh\nfor a in "$@"; do echo "ARG:$a"; done\nenv | sed "s/^/ENV:/"\nexit 3\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('resolveBpftrace with an explicit path', () => {
  it('an executable file is used as is', () => {
    expect(resolveBpftrace(p('bpftrace-exe'))).toEqual({ file: p('bpftrace-exe'), prefixArgs: [], display: p('bpftrace-exe') });
  });

  it('a symlink to an executable is accepted', () => {
    expect(resolveBpftrace(p('link-to-bpftrace')).file).toBe(p('link-to-bpftrace'));
  });

  it('a relative path is rejected', () => {
    for (const rel of ['bpftrace', './bpftrace', '../usr/bin/bpftrace', 'bin/bpftrace']) {
      const e = envError(() => resolveBpftrace(rel));
      expect(e.message).toContain('absolute path');
      expect(e.message).toContain(JSON.stringify(rel));
    }
  });

  it('a missing binary is an EnvironmentError with an install hint', () => {
    const e = envError(() => resolveBpftrace(p('nope/bpftrace')));
    expect(e.message).toContain('not found');
    expect(e.hint).toMatch(/apt-get install bpftrace/);
    expect(e.exitCode).toBe(3);
  });

  it('a non-executable file is rejected', () => {
    expect(envError(() => resolveBpftrace(p('not-executable'))).message).toContain('not an executable');
  });

  it('a private install directory runs its own loader with --library-path', () => {
    const c = resolveBpftrace(p('private'));
    expect(c.file).toBe(p('private/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
    expect(c.prefixArgs).toEqual(['--library-path', `${p('private/usr/lib/x86_64-linux-gnu')}:${p('private/lib/x86_64-linux-gnu')}`, p('private/usr/bin/bpftrace')]);
    expect(c.display).toContain(p('private/usr/bin/bpftrace'));
  });

  it('a directory without droptrace-layout.json explains how to make one', () => {
    const e = envError(() => resolveBpftrace(p('bare-dir')));
    expect(e.message).toContain('droptrace-layout.json');
    expect(e.hint).toContain('install-bpftrace-current');
  });

  it('invalid or incomplete layouts are rejected', () => {
    expect(envError(() => resolveBpftrace(p('bad-json'))).message).toContain('not valid JSON');
    expect(envError(() => resolveBpftrace(p('bad-layout'))).message).toContain('executable loader');
    expect(envError(() => resolveBpftrace(p('incomplete-layout'))).message).toContain('executable loader');
  });

  it('an empty string means "search the system PATH"', () => {
    expect(resolveBpftrace('', `${p('empty')}:${p('dir3')}`).file).toBe(p('dir3/bpftrace'));
  });
});

describe('resolveBpftrace on a search path', () => {
  it('skips non-executable files and directories named bpftrace', () => {
    expect(resolveBpftrace(undefined, [p('empty'), p('dir1'), p('dir2'), p('dir3')].join(':'))).toEqual({ file: p('dir3/bpftrace'), prefixArgs: [], display: p('dir3/bpftrace') });
  });

  it('no bpftrace anywhere → EnvironmentError with a hint', () => {
    const e = envError(() => resolveBpftrace(undefined, [p('empty'), p('dir1'), p('dir2')].join(':')));
    expect(e.message).toContain('not installed');
    expect(e.hint).toContain('apt-get install bpftrace');
  });

  it('the default search path is fixed, not the caller’s PATH', () => {
    expect(SYSTEM_PATH).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });
});

describe('parseVersion / versionAtLeast', () => {
  it.each([
    ['bpftrace v0.17.0', [0, 17, 0]],
    ['bpftrace v0.23.2\n', [0, 23, 2]],
    ['bpftrace 0.20.4', [0, 20, 4]],
    ['bpftrace v0.21.0-rc1-12-gabcdef', [0, 21, 0]],
    ['bpftrace v1.2.3', [1, 2, 3]],
  ])('%j', (text, [major, minor, patch]) => {
    expect(parseVersion(text)).toEqual({ major, minor, patch, text: `${major}.${minor}.${patch}` });
  });
  it('no version → undefined', () => {
    expect(parseVersion('')).toBeUndefined();
    expect(parseVersion('bpftrace v0.9')).toBeUndefined();
    expect(parseVersion('command not found')).toBeUndefined();
  });
  it('compares major and minor', () => {
    const v = parseVersion('v0.20.0')!;
    expect(versionAtLeast(v, 0, 20)).toBe(true);
    expect(versionAtLeast(v, 0, 21)).toBe(false);
    expect(versionAtLeast(v, 0, 19)).toBe(true);
    expect(versionAtLeast(parseVersion('v1.0.0')!, 0, 30)).toBe(true);
    expect(versionAtLeast(parseVersion('v0.17.9')!, 0, 20)).toBe(false);
  });
});

describe('running bpftrace', () => {
  const cmd = (file: string, prefixArgs: string[] = []): BpftraceCommand => ({ file, prefixArgs, display: file });

  it('childEnv is minimal', () => {
    expect(childEnv()).toEqual({ PATH: SYSTEM_PATH, LANG: 'C.UTF-8', BPFTRACE_NO_USER_SYMBOLS: '1' });
  });

  it('runBpftrace passes prefix args first, uses the minimal env, and reports the exit code', async () => {
    process.env.DROPTRACE_TEST_LEAK = 'x';
    try {
      const r = await runBpftrace(cmd(p('echo-args'), ['--library-path', '/l', '/b']), ['--info', 'a b']);
      expect(r.code).toBe(3);
      const lines = r.stdout.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('ARG:'))).toEqual(['ARG:--library-path', 'ARG:/l', 'ARG:/b', 'ARG:--info', 'ARG:a b']);
      expect(lines).toContain(`ENV:PATH=${SYSTEM_PATH}`);
      expect(lines.some((l) => l.startsWith('ENV:DROPTRACE_TEST_LEAK'))).toBe(false);
    } finally {
      delete process.env.DROPTRACE_TEST_LEAK;
    }
  });

  it('bpftraceVersion reads stdout or stderr', async () => {
    expect((await bpftraceVersion(cmd(p('v017')))).text).toBe('0.17.0');
    expect((await bpftraceVersion(cmd(p('v023-stderr')))).minor).toBe(23);
  });

  it('bpftraceVersion of a broken install is an EnvironmentError quoting its output', async () => {
    const err = await bpftraceVersion(cmd(p('broken'))).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as Error).message).toContain('libbpf.so.1');
  });
});

describe('chooseBpftrace: the newest usable unless one is given', () => {
  const V = (minor: number) => ({ major: 0, minor, patch: 0, text: `0.${minor}.0` });
  /** Versions by the binary the command runs (the private install runs its loader, then bpftrace). */
  const versions = (byFile: Record<string, number | Error>) => async (c: BpftraceCommand) => {
    const v = byFile[c.prefixArgs.at(-1) ?? c.file];
    if (v === undefined || v instanceof Error) throw v ?? new Error('no version');
    return V(v);
  };

  it('the private install when it is newer than the system one, and says why', async () => {
    const c = await chooseBpftrace(undefined, { privateDir: p('private'), searchPath: p('dir3'), version: versions({ [p('private/usr/bin/bpftrace')]: 23, [p('dir3/bpftrace')]: 17 }) });
    expect(c.command.prefixArgs.at(-1)).toBe(p('private/usr/bin/bpftrace'));
    expect(c.version.text).toBe('0.23.0');
    expect(c.why).toBe(`newest usable (also found: ${p('dir3/bpftrace')} v0.17.0)`);
  });

  it('the system one when it is newer, or when the private one does not run', async () => {
    expect((await chooseBpftrace(undefined, { privateDir: p('private'), searchPath: p('dir3'), version: versions({ [p('private/usr/bin/bpftrace')]: 21, [p('dir3/bpftrace')]: 24 }) })).command.file).toBe(p('dir3/bpftrace'));
    const c = await chooseBpftrace(undefined, { privateDir: p('private'), searchPath: p('dir3'), version: versions({ [p('private/usr/bin/bpftrace')]: new Error('libLLVM missing'), [p('dir3/bpftrace')]: 17 }) });
    expect(c.command.file).toBe(p('dir3/bpftrace'));
    expect(c.why).toContain('libLLVM missing');
  });

  it('no private install: the system one alone', async () => {
    const c = await chooseBpftrace(undefined, { privateDir: p('bare-dir'), searchPath: p('dir3'), version: versions({ [p('dir3/bpftrace')]: 17 }) });
    expect([c.command.file, c.why]).toEqual([p('dir3/bpftrace'), 'the only bpftrace found']);
  });

  it('a given one is used as given, even when an older version', async () => {
    const c = await chooseBpftrace(p('dir3/bpftrace'), { privateDir: p('private'), version: versions({ [p('private/usr/bin/bpftrace')]: 23, [p('dir3/bpftrace')]: 17 }) });
    expect([c.command.file, c.version.minor, c.why]).toEqual([p('dir3/bpftrace'), 17, 'given by --bpftrace / DROPTRACE_BPFTRACE']);
  });

  it('nothing at all: the install hint; only broken ones: each failure named', async () => {
    await expect(chooseBpftrace(undefined, { privateDir: p('bare-dir'), searchPath: p('empty'), version: versions({}) })).rejects.toThrow(/not installed/);
    await expect(chooseBpftrace(undefined, { privateDir: p('private'), searchPath: p('dir3'), version: versions({}) })).rejects.toThrow(/no bpftrace runs here: .*private.*dir3/);
  });
});
