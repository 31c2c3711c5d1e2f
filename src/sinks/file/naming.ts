// File names of one stream: the live file `<base>.ndjson`, rotated files
// `<base>-<seq>.ndjson` (seq increasing, zero-padded so they sort), their
// compressed form `<base>-<seq>.ndjson.gz`, and `<…>.gz.tmp` while compressing.
// A Filebeat glob `<base>*.ndjson` matches the live and rotated plain files
// but not the .gz ones; Filebeat follows a renamed file by inode.
import { readdirSync } from 'node:fs';
import { SinkError } from '../../errors.js';

const BASE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkBaseName(base: string): string {
  if (!BASE_RE.test(base)) throw new SinkError(`file sink base name must be 1-64 of [A-Za-z0-9_.-], got ${JSON.stringify(base)}`);
  return base;
}

export const currentName = (base: string) => `${base}.ndjson`;
export const rotatedName = (base: string, seq: number) => `${base}-${String(seq).padStart(6, '0')}.ndjson`;
export const gzName = (base: string, seq: number) => `${rotatedName(base, seq)}.gz`;
export const gzTmpName = (base: string, seq: number) => `${gzName(base, seq)}.tmp`;

export interface RotatedSet {
  /** seq → which forms exist on disk. */
  files: Map<number, { plain: boolean; gz: boolean; tmp: boolean }>;
  maxSeq: number;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Scan `dir` for this stream's rotated files. */
export function scanRotated(dir: string, base: string): RotatedSet {
  const re = new RegExp(`^${escapeRe(base)}-(\\d{6,})\\.ndjson(\\.gz(\\.tmp)?)?$`);
  const files: RotatedSet['files'] = new Map();
  let maxSeq = 0;
  for (const name of readdirSync(dir)) {
    const m = re.exec(name);
    if (!m) continue;
    const seq = Number(m[1]);
    const e = files.get(seq) ?? { plain: false, gz: false, tmp: false };
    if (m[3]) e.tmp = true;
    else if (m[2]) e.gz = true;
    else e.plain = true;
    files.set(seq, e);
    if (seq > maxSeq) maxSeq = seq;
  }
  return { files, maxSeq };
}
