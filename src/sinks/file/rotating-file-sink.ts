// One NDJSON stream (`<dir>/<baseName>.ndjson`) with size and age rotation.
// Hot path: JSON.stringify, encoded into a reusable batch buffer, one writeSync per batch
// (bufferBytes) or per timer tick. Rotation closes the live file, renames it
// to the next sequence number (atomic) and creates a fresh one with O_EXCL.
// A record never straddles files: the size check is done before the record
// joins the batch, and an oversize record goes alone into a fresh file.
import { closeSync, fsyncSync, ftruncateSync, lstatSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EcsRecord } from '../../record/ecs.js';
import type { Sink } from '../sink.js';
import { SinkError } from '../../errors.js';
import { preparePrivateDir, openPrivateAppend } from '../../platform/private-files.js';
import { checkBaseName, currentName, gzName, gzTmpName, rotatedName, scanRotated } from './naming.js';
import { gzipFile } from './compress.js';
import { cutTornTail } from './tail-repair.js';

export interface RotatingFileOptions {
  dir: string;
  /** Stream name: the live file is `<baseName>.ndjson`. */
  baseName: string;
  /** Rotate before a record would make the file larger than this. Default 64 MiB. */
  maxBytes?: number;
  /** Rotate a non-empty file this long after it was opened; 0 = never. Default 1 h. */
  maxAgeMs?: number;
  /** Rotated files to keep (plain or .gz); older ones are deleted. Default 10. */
  keep?: number;
  /** gzip rotated files in the background. Default false. */
  gzip?: boolean;
  /** Write the batch at least this often; 0 = no timer (tests). Default 1000. */
  flushIntervalMs?: number;
  /** Batch buffer size: written when the next record might not fit. Default 256 KiB. */
  bufferBytes?: number;
  clock?: () => number;
  /** Failures that happen off the write path (compression, pruning). */
  onError?: (e: Error) => void;
}

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_AGE_MS = 3_600_000;
export const DEFAULT_KEEP = 10;

export class RotatingFileSink implements Sink {
  readonly name: string;
  readonly path: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly keep: number;
  private readonly gzip: boolean;
  private readonly bufferBytes: number;
  private readonly clock: () => number;
  private readonly onError: (e: Error) => void;

  private fd = -1;
  /** Bytes in the live file (what is on disk). */
  private size = 0;
  private openedAt = 0;
  private nextSeq = 1;
  /** Encoded lines not yet written: pool[0, used), poolRecords of them. */
  private readonly pool: Buffer;
  private used = 0;
  private poolRecords = 0;
  private closed = false;
  /** A rotation failed: keep appending (past maxBytes) until the next tick/flush retries, instead of failing per record. */
  private rotationHeld = false;
  private timer: NodeJS.Timeout | null = null;

  private readonly compressQueue: number[] = [];
  private compressing: Promise<void> | null = null;
  private readonly cancelled = new Set<number>();
  private readonly abort = new AbortController();

  private counters = { records: 0, bytes: 0, rotations: 0, errors: 0, dropped: 0, compressed: 0, deleted: 0, repaired_bytes: 0 };

  constructor(o: RotatingFileOptions) {
    this.dir = o.dir;
    this.base = checkBaseName(o.baseName);
    this.name = `file:${this.base}`;
    this.path = join(o.dir, currentName(this.base));
    this.maxBytes = positive('maxBytes', o.maxBytes ?? DEFAULT_MAX_BYTES);
    this.maxAgeMs = o.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (!(this.maxAgeMs >= 0)) throw new SinkError(`file sink maxAgeMs must be ≥ 0, got ${o.maxAgeMs}`);
    this.keep = o.keep ?? DEFAULT_KEEP;
    if (!Number.isInteger(this.keep) || this.keep < 0) throw new SinkError(`file sink keep must be an integer ≥ 0, got ${o.keep}`);
    this.gzip = o.gzip ?? false;
    this.bufferBytes = positive('bufferBytes', o.bufferBytes ?? 256 * 1024);
    this.pool = Buffer.allocUnsafe(this.bufferBytes);
    this.clock = o.clock ?? Date.now;
    this.onError = o.onError ?? (() => undefined);

    preparePrivateDir(this.dir, { what: 'output directory' });
    this.recover();
    const cur = openPrivateAppend(this.path);
    this.fd = cur.fd;
    this.size = cutTornTail(cur.fd, cur.size);
    if (this.size !== cur.size) this.counters.repaired_bytes = cur.size - this.size;
    // Resuming: the file's age counts from its creation when the fs knows it.
    const now = this.clock();
    this.openedAt = cur.size > 0 && cur.birthMs > 0 ? Math.min(now, cur.birthMs) : now;
    this.prune();

    const every = o.flushIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => this.tick(), every);
      this.timer.unref();
    }
  }

  write(record: EcsRecord): void {
    if (this.closed) {
      this.counters.dropped++;
      return;
    }
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch (e) {
      this.counters.errors++;
      this.counters.dropped++;
      this.onError(e as Error);
      return;
    }
    // Encode straight into the batch buffer: one pass gives the exact UTF-8
    // size (the limit is in bytes) and the bytes to write (measured ~4x
    // cheaper than byteLength + join + write(string)).
    const worst = line.length * 3 + 1;
    if (worst > this.pool.length - this.used) {
      this.writeBatch();
      if (worst > this.pool.length) return this.writeLarge(line);
    }
    const start = this.used;
    const n = this.pool.write(line, start) + 1;
    this.pool[start + n - 1] = 0x0a;
    const filled = this.size + start;
    if (filled > 0 && !this.rotationHeld && (filled + n > this.maxBytes || this.isOld())) {
      // This record opens the next file: write what precedes it, rotate,
      // then move it to the front of the (now empty) batch.
      this.used = start;
      this.rotate();
      this.pool.copyWithin(0, start, start + n);
      this.used = n;
    } else {
      this.used = start + n;
    }
    this.poolRecords++;
  }

  /** A record bigger than the batch buffer: written on its own. */
  private writeLarge(line: string): void {
    const buf = Buffer.from(line + '\n');
    if (this.size > 0 && !this.rotationHeld && (this.size + buf.length > this.maxBytes || this.isOld())) this.rotate();
    this.writeBytes(buf, buf.length, 1);
  }

  async flush(): Promise<void> {
    this.rotationHeld = false;
    if (this.isOld() && this.size + this.used > 0) this.rotate();
    else this.writeBatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.writeBatch();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) {
      try {
        fsyncSync(this.fd);
      } catch (e) {
        this.fail(e);
      }
      closeSync(this.fd);
      this.fd = -1;
    }
    // Don't hold shutdown hostage to a long gzip: abort it (the temp file is
    // removed, the plain file stays) and let the next start compress it.
    this.compressQueue.length = 0;
    this.abort.abort();
    await this.compressing;
  }

  /** Resolves once every queued compression has finished (tests, benchmarks). */
  async compressionIdle(): Promise<void> {
    while (this.compressing) await this.compressing;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }

  private isOld(): boolean {
    return this.maxAgeMs > 0 && this.clock() - this.openedAt >= this.maxAgeMs;
  }

  private tick(): void {
    this.rotationHeld = false;
    if (this.isOld() && this.size + this.used > 0) this.rotate();
    else this.writeBatch();
  }

  private fail(e: unknown): void {
    this.counters.errors++;
    this.onError(e as Error);
  }

  /** One write for the whole batch. */
  private writeBatch(): void {
    if (this.used === 0) return;
    const n = this.used;
    const records = this.poolRecords;
    this.used = 0;
    this.poolRecords = 0;
    this.writeBytes(this.pool, n, records);
  }

  /** Write buf[0, len) holding `records` whole lines; on failure cut the file back to its last whole line. */
  private writeBytes(buf: Buffer, len: number, records: number): void {
    if (this.fd < 0 && !this.reopen()) {
      this.counters.dropped += records;
      return;
    }
    let off = 0;
    try {
      while (off < len) off += writeSync(this.fd, buf, off, len - off);
    } catch (e) {
      if (off > 0) {
        try {
          ftruncateSync(this.fd, this.size);
        } catch {
          // Best effort: the next successful write still starts a new line.
        }
      }
      this.counters.dropped += records;
      this.fail(e);
      return;
    }
    this.size += len;
    this.counters.records += records;
    this.counters.bytes += len;
  }

  private reopen(): boolean {
    try {
      const cur = openPrivateAppend(this.path);
      this.fd = cur.fd;
      this.size = cutTornTail(cur.fd, cur.size);
      this.openedAt = this.clock();
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private rotate(): void {
    this.writeBatch();
    if (this.fd < 0 || this.size === 0) return;
    const seq = this.nextSeq;
    try {
      // The directory could have been swapped since start; check it again.
      if (lstatSync(this.dir).isSymbolicLink()) throw new SinkError(`output directory ${this.dir} became a symbolic link; not rotating into it`);
      closeSync(this.fd);
      this.fd = -1;
      renameSync(this.path, join(this.dir, rotatedName(this.base, seq)));
      this.nextSeq++;
      const cur = openPrivateAppend(this.path, true);
      this.fd = cur.fd;
      this.size = 0;
      this.openedAt = this.clock();
    } catch (e) {
      this.fail(e);
      this.rotationHeld = true;
      if (this.fd < 0) this.reopen();
      return;
    }
    this.counters.rotations++;
    if (this.gzip) this.enqueueCompression(seq);
    this.prune();
  }

  /** Startup: finish or undo what a previous run left half-done. */
  private recover(): void {
    const { files, maxSeq } = scanRotated(this.dir, this.base);
    this.nextSeq = maxSeq + 1;
    for (const [seq, f] of [...files].sort((a, b) => a[0] - b[0])) {
      try {
        if (f.tmp) unlinkSync(join(this.dir, gzTmpName(this.base, seq)));
        // The .gz exists only once complete (rename), so the plain copy is redundant.
        if (f.gz && f.plain) unlinkSync(join(this.dir, rotatedName(this.base, seq)));
        else if (f.plain && this.gzip) this.enqueueCompression(seq);
      } catch (e) {
        this.fail(e);
      }
    }
  }

  /** Keep the newest `keep` rotated files (a seq counts once, plain or .gz). */
  private prune(): void {
    let files;
    try {
      files = scanRotated(this.dir, this.base).files;
    } catch (e) {
      this.fail(e);
      return;
    }
    const seqs = [...files.keys()].sort((a, b) => b - a);
    for (const seq of seqs.slice(this.keep)) {
      const f = files.get(seq)!;
      this.cancelled.add(seq);
      for (const [has, name] of [[f.plain, rotatedName(this.base, seq)], [f.gz, gzName(this.base, seq)]] as const) {
        if (!has) continue;
        try {
          unlinkSync(join(this.dir, name));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.fail(e);
        }
      }
      this.counters.deleted++;
    }
  }

  private enqueueCompression(seq: number): void {
    this.compressQueue.push(seq);
    if (!this.compressing) this.compressing = this.compressLoop().finally(() => (this.compressing = null));
  }

  /** One file at a time: compression competes with the collector for CPU. */
  private async compressLoop(): Promise<void> {
    for (let seq = this.compressQueue.shift(); seq !== undefined; seq = this.compressQueue.shift()) {
      if (this.cancelled.has(seq)) continue;
      const src = join(this.dir, rotatedName(this.base, seq));
      const dst = join(this.dir, gzName(this.base, seq));
      try {
        await gzipFile(src, dst, join(this.dir, gzTmpName(this.base, seq)), this.abort.signal);
        // Pruned while compressing: the plain file is gone, drop the .gz too.
        if (this.cancelled.has(seq)) rmIfExists(dst);
        else this.counters.compressed++;
      } catch (e) {
        if (this.abort.signal.aborted) return;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && this.cancelled.has(seq)) continue;
        this.fail(e);
      }
    }
  }
}

function rmIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 1) throw new SinkError(`file sink ${name} must be ≥ 1, got ${v}`);
  return v;
}
