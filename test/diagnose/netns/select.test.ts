import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveNetnsArgs } from '../../../src/diagnose/netns/select.js';
import { scanNamespaces, netnsLabel } from '../../../src/diagnose/netns/namespaces.js';
import { counterFilter } from '../../../src/session/counters.js';

describe('--netns values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dt-runnetns-'));
  writeFileSync(join(dir, 'web1'), '');

  it('inodes and /run/netns names, comma lists', () => {
    expect([...resolveNetnsArgs(['4026531840,web1'], 'netns', dir)]).toEqual([4026531840, statSync(join(dir, 'web1')).ino]);
  });

  it('rejects path tricks, unknown names and bad numbers with a usage error', () => {
    expect(() => resolveNetnsArgs(['../etc'], 'netns', dir)).toThrow(/neither/);
    expect(() => resolveNetnsArgs(['nope'], 'netns', dir)).toThrow(/no network namespace named "nope"/);
    expect(() => resolveNetnsArgs(['0'], 'netns', dir)).toThrow(/not a namespace inode/);
  });
});

describe('scanNamespaces (injectable roots)', () => {
  it('names from the run directory; our own namespace marked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dt-scan-'));
    writeFileSync(join(dir, 'a'), '');
    const found = scanNamespaces({ runNetns: dir, procRoot: '/nonexistent' });
    expect(found).toEqual([{ inode: statSync(join(dir, 'a')).ino, handle: join(dir, 'a'), name: 'a', self: false }]);
    expect(netnsLabel(found[0])).toBe(`a (netns ${found[0].inode})`);
  });
});

describe('counters --counter filter', () => {
  it('substring (case-insensitive) or glob', () => {
    const f = counterFilter(['paws', 'TcpExt.Listen*']);
    expect(f('TcpExt.PAWSEstab')).toBe(true);
    expect(f('TcpExt.ListenDrops')).toBe(true);
    expect(f('Udp.NoPorts')).toBe(false);
    expect(counterFilter(undefined)('anything')).toBe(true);
  });
});
