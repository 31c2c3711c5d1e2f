// Counter baselines kept by `run` in its state directory, for the doctor:
// one JSON file, written atomically (temp + rename), 0600 in a 0700
// directory; a file that is missing, stale or malformed is simply not used.
import { mkdirSync, readFileSync, renameSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Baseline } from './rates.js';

export const BASELINE_FILE = 'counter-baselines.json';
const VERSION = 1;

export interface StoredBaselines {
  updated: number;
  entries: Map<string, Baseline>;
}

export function saveBaselines(dir: string, entries: ReadonlyMap<string, Baseline>, now = Date.now()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Never write through a planted symlink.
  if (lstatSync(dir).isSymbolicLink()) throw new Error(`${dir} is a symbolic link`);
  const body = JSON.stringify({ version: VERSION, updated: now, entries: Object.fromEntries(entries) });
  const tmp = join(dir, `.${BASELINE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, body, { mode: 0o600, flag: 'w' });
  renameSync(tmp, join(dir, BASELINE_FILE));
}

/** Baselines saved within `maxAgeMs`, or undefined. */
export function loadBaselines(dir: string, maxAgeMs = 3_600_000, now = Date.now()): StoredBaselines | undefined {
  try {
    const j = JSON.parse(readFileSync(join(dir, BASELINE_FILE), 'utf8')) as { version?: number; updated?: number; entries?: Record<string, Baseline> };
    if (j.version !== VERSION || typeof j.updated !== 'number' || now - j.updated > maxAgeMs || !j.entries) return undefined;
    const entries = new Map<string, Baseline>();
    for (const [k, v] of Object.entries(j.entries)) {
      if (v && typeof v.rate === 'number' && Number.isFinite(v.rate) && typeof v.samples === 'number') entries.set(k, { rate: v.rate, samples: v.samples });
    }
    return { updated: j.updated, entries };
  } catch {
    return undefined;
  }
}
