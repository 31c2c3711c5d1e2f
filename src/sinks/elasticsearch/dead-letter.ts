// Records Elasticsearch refused for good (mapping conflicts, bad values…):
// one NDJSON line each, with the status and reason, so an operator can fix
// the template and re-send them. 0600, never follows a planted symlink; when
// the file passes maxBytes it is rotated once to <path>.1. write() says
// whether the records really reached the file: a record that did not is
// counted as dead_letter_failed by the sink, never as dead-lettered.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import type { DeadItem } from './bulk-sender.js';
import { appendPrivate, preparePrivateDir } from '../../platform/private-files.js';

export interface DeadLetterOptions {
  path: string;
  maxBytes?: number;
  now?: () => Date;
}

export type DeadLetterResult = { ok: true } | { ok: false; reason: string };

export class DeadLetterFile {
  private size = -1;
  writeErrors = 0;

  constructor(private readonly o: DeadLetterOptions) {}

  get path(): string {
    return this.o.path;
  }

  write(items: readonly DeadItem[]): DeadLetterResult {
    if (items.length === 0) return { ok: true };
    const at = (this.o.now ?? (() => new Date()))().toISOString();
    let data = '';
    for (const d of items) {
      // The document is embedded as parsed JSON so the file stays one valid object per line.
      let document: unknown;
      try {
        document = JSON.parse(d.item.body);
      } catch {
        document = d.item.body;
      }
      data += JSON.stringify({ '@timestamp': at, status: d.status, error: { type: d.type, reason: d.reason }, _index: d.item.index, _id: d.item.id, document }) + '\n';
    }
    try {
      this.append(data);
      return { ok: true };
    } catch (e) {
      this.writeErrors++;
      this.size = -1;
      const c = (e as NodeJS.ErrnoException).code;
      return { ok: false, reason: c === 'ELOOP' ? 'ELOOP: it is a symbolic link; refusing to follow it' : c ?? (e as Error).message };
    }
  }

  private append(data: string): void {
    const max = this.o.maxBytes ?? 256 << 20;
    if (this.size < 0) {
      preparePrivateDir(dirname(this.o.path), { what: 'dead-letter directory' });
      try {
        this.size = fs.lstatSync(this.o.path).size;
      } catch {
        this.size = 0;
      }
    }
    if (this.size > 0 && this.size + data.length > max) {
      fs.renameSync(this.o.path, `${this.o.path}.1`);
      this.size = 0;
    }
    this.size += appendPrivate(this.o.path, data);
  }
}
