// The state carried from one file of a tcpdump rotation to the next
// (tcpdump -z runs us once per finished file): per-connection analysis
// state, the capture time where the last file ended, and the fingerprints of
// files already analysed. Bounded: the most recently active connections
// only (idle ones and long-closed ones are dropped), at most maxConnections.
// One state file per rotation (directory + file name without its rotation
// number), 0600 in a private directory, replaced atomically; an unreadable
// or corrupt one is reported and replaced, never fatal.
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync, fstatSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { ensurePrivateDir, CREATE_NEW_NOFOLLOW, READ_NOFOLLOW, FILE_MODE } from '../sinks/file/secure-fs.js';
import { Conn } from './analysis/connection.js';
import type { CarriedState } from './analyse.js';

const VERSION = 1;
const MAX_STATE_BYTES = 512 << 20;
/** Fingerprints remembered (tcpdump -W keeps at most this many files anyway in practice). */
const MAX_SEEN = 256;

/** The rotation name of a capture file: `dump07.pcap.gz` → "dump". */
export function rotationBase(file: string): string {
  return basename(file).replace(/\.(gz|pcap|pcapng|cap)$/gi, '').replace(/\.(gz|pcap|pcapng|cap)$/gi, '').replace(/\d+$/, '');
}

/**
 * Files of the same rotation as `file` (same directory and rotation name)
 * that tcpdump finished after `sinceMs` and before `file` (by modification
 * time), oldest first: tcpdump -z does not wait for one run before starting
 * the next, so the run that gets the lock first analyses the earlier files
 * first, in order; their own runs then find them already analysed.
 */
export function earlierRotationFiles(file: string, sinceMs: number): string[] {
  const abs = resolve(file);
  const base = rotationBase(abs);
  const mine = statSync(abs, { throwIfNoEntry: false });
  if (!mine || sinceMs <= 0) return [];
  const out: Array<[number, string]> = [];
  for (const n of readdirSync(dirname(abs))) {
    const p = join(dirname(abs), n);
    if (p === abs || rotationBase(n) !== base || !/\d/.test(n)) continue;
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isFile() && st.mtimeMs > sinceMs && st.mtimeMs < mine.mtimeMs) out.push([st.mtimeMs, p]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

/** The state file of the rotation `captureFile` belongs to. */
export function statePathFor(stateDir: string, captureFile: string): string {
  const abs = resolve(captureFile);
  const base = rotationBase(abs);
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'capture';
  const dirId = createHash('sha1').update(dirname(abs)).digest('hex').slice(0, 10);
  return join(stateDir, `pcap-state-${safe}-${dirId}.json`);
}

export function loadState(path: string, warn: (m: string) => void): CarriedState | null {
  let text: string;
  try {
    const fd = openSync(path, READ_NOFOLLOW);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_STATE_BYTES) {
        warn(`state file ${path} is not a regular file of a sane size; starting without carried state`);
        return null;
      }
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`cannot read state file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); starting without carried state`);
    return null;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    warn(`state file ${path} is corrupt; starting without carried state`);
    return null;
  }
  const d = doc as { version?: unknown; lastTsUs?: unknown; seen?: unknown; conns?: unknown };
  if (d?.version !== VERSION || typeof d.lastTsUs !== 'number' || !Array.isArray(d.seen) || !Array.isArray(d.conns) || !d.seen.every((s) => typeof s === 'string')) {
    warn(`state file ${path} has an unknown layout; starting without carried state`);
    return null;
  }
  const conns: Conn[] = [];
  let bad = 0;
  for (const x of d.conns) {
    const c = Conn.fromArray(x);
    if (c) conns.push(c);
    else bad++;
  }
  if (bad) warn(`state file ${path}: ${bad} unreadable connection entries skipped`);
  const lastMtimeMs = typeof (d as { lastMtimeMs?: unknown }).lastMtimeMs === 'number' ? (d as { lastMtimeMs: number }).lastMtimeMs : 0;
  const paths = Array.isArray((d as { paths?: unknown }).paths) ? ((d as { paths: unknown[] }).paths.filter((x) => typeof x === 'string') as string[]) : [];
  return { lastTsUs: d.lastTsUs, seen: d.seen as string[], conns, lastMtimeMs, paths };
}

export interface SaveOptions {
  maxConnections: number;
  /** Connections idle longer than this (capture time) are not carried. */
  idleUs: number;
}

export function saveState(path: string, state: { lastTsUs: number; lastMtimeMs: number; seen: string[]; paths: string[]; conns: Iterable<Conn> }, o: SaveOptions): number {
  ensurePrivateDir(dirname(path));
  const keep: Conn[] = [];
  for (const c of state.conns) {
    const age = state.lastTsUs - c.lastTs;
    const closed = c.a.rst || c.b.rst || (c.a.fin && c.b.fin);
    // A closed connection may still see a retransmitted FIN or last ACK for a while.
    if (age <= (closed ? Math.min(o.idleUs, 60_000_000) : o.idleUs)) keep.push(c);
  }
  keep.sort((x, y) => y.lastTs - x.lastTs);
  const conns = keep.slice(0, o.maxConnections);
  const body = JSON.stringify({ version: VERSION, lastTsUs: state.lastTsUs, lastMtimeMs: state.lastMtimeMs, seen: state.seen.slice(-MAX_SEEN), paths: state.paths.slice(-MAX_SEEN), conns: conns.map((c) => c.toArray()) });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, CREATE_NEW_NOFOLLOW, FILE_MODE);
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return conns.length;
}
