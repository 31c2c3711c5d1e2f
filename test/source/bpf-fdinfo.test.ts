import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recursionMisses } from '../../src/source/bpf-fdinfo.js';

// fdinfo text as Linux 6.18 shows it for a running bpftrace (captured).
const prog = (misses: number | null, id = 3149) => `pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t18\nprog_type:\t7\nprog_jited:\t1\nprog_tag:\t1701881ef7cec2ee\nmemlock:\t4096\nprog_id:\t${id}\nrun_time_ns:\t0\nrun_cnt:\t0\n${misses === null ? '' : `recursion_misses:\t${misses}\n`}verified_insns:\t10\n`;
const MAP = 'pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t18\nmap_type:\t5\nkey_size:\t8\nvalue_size:\t8\nmax_entries:\t4096\nmap_flags:\t0x0\nmap_extra:\t0x0\nmemlock:\t394112\nmap_id:\t3207\nfrozen:\t0\n';
const FILE = 'pos:\t0\nflags:\t0100001\nmnt_id:\t24\nino:\t3\n';

describe('recursionMisses from a fake /proc', () => {
  const root = mkdtempSync(join(tmpdir(), 'droptrace-fdinfo-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let pid = 1000;
  function proc(fds: Record<string, string | null>): number {
    const p = ++pid;
    const dir = join(root, String(p), 'fdinfo');
    mkdirSync(dir, { recursive: true });
    for (const [fd, text] of Object.entries(fds)) {
      if (text === null) mkdirSync(join(dir, fd)); // unreadable as a file
      else writeFileSync(join(dir, fd), text);
    }
    return p;
  }

  it('sums recursion_misses over the BPF program fds only', () => {
    const p = proc({ 0: FILE, 1: FILE, 3: MAP, 4: MAP, 9: prog(7, 3148), 12: prog(35), 13: prog(0, 3150) });
    expect(recursionMisses(p, root)).toBe(42);
  });

  it('programs with no misses: 0, not undefined', () => {
    expect(recursionMisses(proc({ 3: MAP, 9: prog(0) }), root)).toBe(0);
  });

  it('a kernel without the counter (< 5.12): the programs are there, nothing counted', () => {
    expect(recursionMisses(proc({ 9: prog(null), 12: prog(null) }), root)).toBe(0);
  });

  it('no BPF program fds (not attached yet, or not bpftrace): undefined', () => {
    expect(recursionMisses(proc({ 0: FILE, 3: MAP }), root)).toBeUndefined();
    expect(recursionMisses(proc({}), root)).toBeUndefined();
  });

  it('a process that is gone: undefined', () => {
    expect(recursionMisses(999_999, root)).toBeUndefined();
  });

  it('an fd closed or unreadable while listing is skipped', () => {
    expect(recursionMisses(proc({ 5: null, 9: prog(3) }), root)).toBe(3);
  });

  it('look-alike lines do not count', () => {
    const odd = prog(0).replace('recursion_misses:\t0\n', 'recursion_misses:\t0\nxrecursion_misses:\t50\nrecursion_misses_total:\t60\nrecursion_misses:\t-4\n');
    expect(recursionMisses(proc({ 9: odd }), root)).toBe(0);
  });
});
