// The on-disk spool: records Elasticsearch could not take yet, in order.
//
// Layout: DIR (0700) holds append-only segments `<seq>.ndjson` (0600), one
// record per line as `<{"_index","_id"} JSON>\t<document JSON>` (JSON never
// contains a raw tab), and for a segment being replayed a `<seq>.pos` file
// with the number of its lines already resolved, so a restart does not
// resend them. Segments are shipped oldest first; a segment is only read once
// sealed (no more appends), so what is read never changes underneath.
//
// Limit policy (stated, counted): when the spool exceeds maxBytes, whole
// segments are dropped oldest first (never the one being shipped); their
// unresolved records count as dropped_by_policy.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { BulkItem } from './routing.js';
import { appendPrivate, preparePrivateDir, READ_NOFOLLOW, writePrivateAtomically } from '../../platform/private-files.js';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** A segment is closed for appends at this size (default maxBytes/8, 64 KiB … 16 MiB). */
  segmentBytes?: number;
}

interface Segment {
  seq: number;
  bytes: number;
  /** Lines in the file. */
  records: number;
  /** Lines already resolved (shipped or dead-lettered). */
  pos: number;
  sealed: boolean;
}

export interface SpoolBatch {
  seq: number;
  items: BulkItem[];
}

const SEG_RE = /^(\d{1,16})\.ndjson$/;
// Segment numbers start high so a batch can be put back in front (prepend).
const FIRST_SEQ = 1_000_000_000;

export function encodeLine(it: BulkItem): string {
  return `${JSON.stringify({ _index: it.index, _id: it.id })}\t${it.body}`;
}

export function decodeLine(line: string): BulkItem | undefined {
  const tab = line.indexOf('\t');
  if (tab < 0) return undefined;
  try {
    const h = JSON.parse(line.slice(0, tab)) as { _index?: unknown; _id?: unknown };
    const body = line.slice(tab + 1);
    if (typeof h._index !== 'string' || typeof h._id !== 'string' || !body.startsWith('{') || !body.endsWith('}')) return undefined;
    return { index: h._index, id: h._id, body };
  } catch {
    return undefined;
  }
}

export class Spool {
  private readonly segments: Segment[] = [];
  private readonly segmentBytes: number;
  /** Parsed lines of the head segment while it is being replayed. */
  private cache: { seq: number; items: (BulkItem | undefined)[] } | null = null;
  /** The segment a batch is in flight from: never dropped by the limit. */
  busySeq: number | null = null;
  /** Lines that did not parse (torn writes after a crash); skipped. */
  corruptLines = 0;

  constructor(private readonly o: SpoolOptions) {
    this.segmentBytes = o.segmentBytes ?? Math.min(16 << 20, Math.max(64 << 10, Math.floor(o.maxBytes / 8)));
  }

  /** Create or check the directory, index existing segments. Returns records found (from a previous run). */
  open(): number {
    preparePrivateDir(this.o.dir, { what: 'spool directory' });
    for (const name of fs.readdirSync(this.o.dir)) {
      const m = SEG_RE.exec(name);
      if (!m) continue;
      const path = join(this.o.dir, name);
      const st = fs.lstatSync(path);
      if (!st.isFile()) continue;
      const seq = Number(m[1]);
      const records = countLines(path);
      const pos = Math.min(records, readPos(this.posPath(seq)));
      if (pos >= records) {
        this.removeFiles(seq);
        continue;
      }
      this.segments.push({ seq, bytes: st.size, records, pos, sealed: true });
    }
    this.segments.sort((a, b) => a.seq - b.seq);
    return this.records;
  }

  /** Unresolved records on disk. */
  get records(): number {
    let n = 0;
    for (const s of this.segments) n += s.records - s.pos;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Append at the tail; returns records dropped by the limit policy. */
  append(items: readonly BulkItem[]): number {
    if (items.length === 0) return 0;
    let tail = this.segments[this.segments.length - 1];
    if (!tail || tail.sealed || tail.bytes >= this.segmentBytes) {
      tail = { seq: tail ? tail.seq + 1 : FIRST_SEQ, bytes: 0, records: 0, pos: 0, sealed: false };
      this.segments.push(tail);
    }
    this.writeLines(tail, items);
    return this.enforceLimit();
  }

  /** Put records back in front of everything (a batch that was in flight). */
  prepend(items: readonly BulkItem[]): number {
    if (items.length === 0) return 0;
    const head = this.segments[0];
    const seg: Segment = { seq: head ? head.seq - 1 : FIRST_SEQ, bytes: 0, records: 0, pos: 0, sealed: true };
    this.segments.unshift(seg);
    this.writeLines(seg, items);
    return this.enforceLimit();
  }

  /** The next records to ship, from the oldest segment (sealing it if it is the tail). */
  peek(max: number, maxBytes = Infinity): SpoolBatch | undefined {
    while (this.segments.length) {
      const head = this.segments[0];
      head.sealed = true;
      if (!this.cache || this.cache.seq !== head.seq) this.cache = { seq: head.seq, items: this.readSegment(head) };
      const items: BulkItem[] = [];
      let bytes = 0;
      // Skip corrupt lines: resolve them right away (already counted).
      while (head.pos < head.records && this.cache.items[head.pos] === undefined) this.commit(head.seq, 1);
      if (this.segments[0] !== head) continue;
      for (let i = head.pos; i < head.records && items.length < max; i++) {
        const it = this.cache.items[i];
        if (!it) break;
        bytes += it.body.length + it.id.length + it.index.length + 40;
        if (items.length > 0 && bytes > maxBytes) break;
        items.push(it);
      }
      if (items.length) return { seq: head.seq, items };
    }
    return undefined;
  }

  /** n records at the head of segment seq are resolved. */
  commit(seq: number, n: number): void {
    const seg = this.segments.find((s) => s.seq === seq);
    if (!seg) return;
    seg.pos = Math.min(seg.records, seg.pos + n);
    if (seg.pos >= seg.records) {
      this.segments.splice(this.segments.indexOf(seg), 1);
      this.removeFiles(seq);
      if (this.cache?.seq === seq) this.cache = null;
    } else {
      writePrivateAtomically(this.posPath(seq), String(seg.pos));
    }
  }

  /** Make appended data durable (on flush and close). */
  sync(): void {
    const tail = this.segments[this.segments.length - 1];
    if (!tail) return;
    try {
      const fd = fs.openSync(this.segPath(tail.seq), READ_NOFOLLOW);
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // Nothing to sync (already shipped and removed).
    }
  }

  private enforceLimit(): number {
    let dropped = 0;
    while (this.bytes > this.o.maxBytes) {
      const victim = this.segments.find((s) => s.seq !== this.busySeq);
      if (!victim) break;
      dropped += victim.records - victim.pos;
      this.segments.splice(this.segments.indexOf(victim), 1);
      this.removeFiles(victim.seq);
      if (this.cache?.seq === victim.seq) this.cache = null;
    }
    return dropped;
  }

  private writeLines(seg: Segment, items: readonly BulkItem[]): void {
    let data = '';
    for (const it of items) data += encodeLine(it) + '\n';
    seg.bytes += appendPrivate(this.segPath(seg.seq), data);
    seg.records += items.length;
  }

  private readSegment(seg: Segment): (BulkItem | undefined)[] {
    const text = fs.readFileSync(this.segPath(seg.seq), 'utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const items = lines.map((l) => {
      const it = decodeLine(l);
      if (!it) this.corruptLines++;
      return it;
    });
    seg.records = items.length;
    return items;
  }

  private segPath(seq: number): string {
    return join(this.o.dir, `${seq}.ndjson`);
  }

  private posPath(seq: number): string {
    return join(this.o.dir, `${seq}.pos`);
  }

  private removeFiles(seq: number): void {
    fs.rmSync(this.segPath(seq), { force: true });
    fs.rmSync(this.posPath(seq), { force: true });
  }
}


function countLines(path: string): number {
  const buf = fs.readFileSync(path);
  let n = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) n++;
  // A torn last line (crash mid-write) still counts; it fails to parse later.
  if (buf.length > 0 && buf[buf.length - 1] !== 10) n++;
  return n;
}

function readPos(path: string): number {
  try {
    const n = Number(fs.readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

