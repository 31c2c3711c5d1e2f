// Counter baselines kept by `run` in its state directory, for the doctor:
// one JSON file, written atomically (temp + rename), 0600 in a 0700
// directory (src/platform/private-files.ts, as every private file); a file
// that is missing, stale or malformed is simply not used.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preparePrivateDir, writePrivateAtomically } from '../../platform/private-files.js';
import type { Baseline } from './rates.js';

export const BASELINE_FILE = 'counter-baselines.json';
const VERSION = 1;

export interface StoredBaselines {
  updated: number;
  entries: Map<string, Baseline>;
}

export function saveBaselines(dir: string, entries: ReadonlyMap<string, Baseline>, now = Date.now()): void {
  // Created 0700, or used as it is if only we can write to it; never through a planted symlink.
  preparePrivateDir(dir, { what: 'state directory' });
  const body = JSON.stringify({ version: VERSION, updated: now, entries: Object.fromEntries(entries) });
  // Runs sharing a state directory do not lock it: each its own temp file.
  writePrivateAtomically(join(dir, BASELINE_FILE), body, { tmpSuffix: `.${process.pid}.tmp` });
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
