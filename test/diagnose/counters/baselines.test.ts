import { describe, it, expect } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveBaselines, loadBaselines, BASELINE_FILE } from '../../../src/diagnose/counters/baselines.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dt-base-'));

describe('counter baselines in the state directory', () => {
  it('round trip; 0600 file in a 0700 directory created on demand', () => {
    const dir = join(tmp(), 'state');
    saveBaselines(dir, new Map([['name:a|Udp.NoPorts||', { rate: 2.5, samples: 9 }]]), 1000);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, BASELINE_FILE)).mode & 0o777).toBe(0o600);
    expect(loadBaselines(dir, 3600_000, 2000)!.entries.get('name:a|Udp.NoPorts||')).toEqual({ rate: 2.5, samples: 9 });
  });

  it('stale, missing or malformed files are not used', () => {
    const dir = tmp();
    expect(loadBaselines(dir)).toBeUndefined();
    saveBaselines(dir, new Map([['k', { rate: 1, samples: 1 }]]), 0);
    expect(loadBaselines(dir, 1000, 5000)).toBeUndefined();
    writeFileSync(join(dir, BASELINE_FILE), '{not json');
    expect(loadBaselines(dir)).toBeUndefined();
    writeFileSync(join(dir, BASELINE_FILE), JSON.stringify({ version: 1, updated: Date.now(), entries: { a: { rate: 'x', samples: 1 }, b: { rate: 3, samples: 2 } } }));
    expect([...loadBaselines(dir)!.entries.keys()]).toEqual(['b']);
  });

  it('refuses a state directory that is a symbolic link', () => {
    const base = tmp();
    mkdirSync(join(base, 'real'));
    symlinkSync(join(base, 'real'), join(base, 'link'));
    expect(() => saveBaselines(join(base, 'link'), new Map())).toThrow(/symbolic link/);
  });

  it('never writes through a planted temp-file symlink, and refuses a world-writable state directory', () => {
    const dir = tmp();
    const victim = join(tmp(), 'victim');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, join(dir, `${BASELINE_FILE}.${process.pid}.tmp`));
    saveBaselines(dir, new Map([['k', { rate: 1, samples: 1 }]]), 1000);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(loadBaselines(dir, 3600_000, 2000)!.entries.get('k')).toEqual({ rate: 1, samples: 1 });
    const open = tmp();
    chmodSync(open, 0o777);
    expect(() => saveBaselines(open, new Map())).toThrow(/world-writable/);
  });
});
