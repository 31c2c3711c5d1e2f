// Limits on the config file, so a wrong --config can neither hang nor eat
// the host (`--config /dev/zero` read 12.9 GB; a FIFO blocked for ever; a
// 25 MB YAML list grew without bound) nor print what it should not:
//   - regular files only (a symlink to one is fine: Kubernetes mounts
//     ConfigMaps that way), opened non-blocking so a FIFO is refused at once;
//   - at most MAX_CONFIG_BYTES, read with that cap whatever the size claims;
//   - UTF-8 text without NUL bytes;
//   - the parsed document: depth, list, string and node-count caps;
//   - parser errors reduced to a kind and a position: YAML and JSON errors
//     quote the offending text, which may be a secret from the wrong file.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

export const MAX_CONFIG_BYTES = 1 << 20;
export const MAX_DEPTH = 8;
export const MAX_LIST = 1024;
export const MAX_STRING = 4096;
export const MAX_NODES = 20_000;

/** Thrown with a reason that never quotes the file's content. */
export class ConfigFileError extends Error {}

const KIND: Array<[(m: number) => boolean, string]> = [
  [(m) => (m & constants.S_IFMT) === constants.S_IFIFO, 'a FIFO'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFCHR, 'a character device'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFBLK, 'a block device'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFDIR, 'a directory'],
  [(m) => (m & constants.S_IFMT) === constants.S_IFSOCK, 'a socket'],
];

/** Read a config file within the limits; throws ConfigFileError (or the open error, e.g. ENOENT). */
export function readConfigFile(path: string, maxBytes = MAX_CONFIG_BYTES): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = KIND.find(([is]) => is(st.mode))?.[1] ?? 'not a regular file';
      throw new ConfigFileError(`is ${kind}, not a regular file`);
    }
    if (st.size > maxBytes) throw new ConfigFileError(`is ${st.size} bytes; a config file may be at most ${maxBytes} bytes`);
    // The size can lie (procfs, a file growing meanwhile): read at most one byte more than allowed.
    const buf = Buffer.alloc(maxBytes + 1);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len > maxBytes) throw new ConfigFileError(`is larger than ${maxBytes} bytes (the limit for a config file)`);
    }
    const bytes = buf.subarray(0, len);
    if (bytes.includes(0)) throw new ConfigFileError('is not a text file (it contains NUL bytes)');
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new ConfigFileError('is not a text file (not valid UTF-8)');
    }
  } finally {
    closeSync(fd);
  }
}

/** Depth, list, string and size caps on the parsed document; returns the first violation (no content), or null. */
export function shapeProblem(doc: unknown): string | null {
  let nodes = 0;
  const walk = (v: unknown, depth: number): string | null => {
    if (++nodes > MAX_NODES) return `has more than ${MAX_NODES} values`;
    if (depth > MAX_DEPTH) return `is nested deeper than ${MAX_DEPTH} levels`;
    if (typeof v === 'string') return v.length > MAX_STRING ? `has a value longer than ${MAX_STRING} characters` : null;
    if (Array.isArray(v)) {
      if (v.length > MAX_LIST) return `has a list of more than ${MAX_LIST} items`;
      for (const x of v) {
        const p = walk(x, depth + 1);
        if (p) return p;
      }
      return null;
    }
    if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k.length > MAX_STRING) return `has a key longer than ${MAX_STRING} characters`;
        const p = walk(x, depth + 1);
        if (p) return p;
      }
    }
    return null;
  };
  return walk(doc, 0);
}

/** "not valid JSON (at line L, column C)" without the snippet V8 quotes. */
export function jsonErrorText(e: unknown, text: string): string {
  const m = /position (\d+)/.exec((e as Error)?.message ?? '');
  if (!m) return 'not valid JSON';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `not valid JSON (at line ${line}, column ${col})`;
}

/** "not valid YAML: duplicate key at line L, column C" from the parser's error code, without its quote of the text. */
export function yamlErrorText(e: unknown): string {
  const err = e as { code?: unknown; linePos?: Array<{ line: number; col: number }> };
  if (typeof err?.code !== 'string') {
    // Not a parse error of the text (e.g. the parser ran out of stack on absurd nesting).
    return e instanceof RangeError ? `not valid YAML: nested too deeply` : 'not valid YAML';
  }
  const what = err.code.toLowerCase().replace(/_/g, ' ');
  const at = err.linePos?.[0];
  return `not valid YAML: ${what}${at ? ` at line ${at.line}, column ${at.col}` : ''}`;
}
