// A capture file as a stream of byte chunks: plain or gzip-compressed (by its
// magic bytes, not its name), read with one reused buffer so memory stays
// constant whatever the file size. Refuses what is not a regular file (a FIFO
// would block until a writer shows up; a directory or device is a mistake).
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { CaptureError } from '../errors.js';

export const CHUNK_BYTES = 1 << 20;

export interface OpenedCapture {
  /** Bytes of the file itself (compressed size for gzip). */
  size: number;
  gzip: boolean;
  /**
   * The (decompressed) content. Plain files reuse one buffer: a consumer must
   * be done with a chunk (or copy what it keeps) before asking for the next.
   */
  chunks: AsyncGenerator<Buffer>;
}

export async function openCapture(path: string, chunkBytes = CHUNK_BYTES): Promise<OpenedCapture> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CaptureError(path, code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open: ${code ?? (e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (st.isFIFO()) throw new CaptureError(path, 'is a FIFO, not a capture file', 'Let tcpdump write a file (-w FILE) and give droptrace the finished file.');
    if (st.isDirectory()) throw new CaptureError(path, 'is a directory');
    if (!st.isFile()) throw new CaptureError(path, 'is not a regular file');
    if (st.size === 0) throw new CaptureError(path, 'is empty (0 bytes)', 'A file tcpdump has only just created has no header yet.');
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    const gzip = head[0] === 0x1f && head[1] === 0x8b;
    return { size: st.size, gzip, chunks: gzip ? gunzipped(fh, path) : plain(fh, chunkBytes) };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function* plain(fh: FileHandle, chunkBytes: number): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(chunkBytes);
  try {
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      yield bytesRead === chunkBytes ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function* gunzipped(fh: FileHandle, path: string): AsyncGenerator<Buffer> {
  const stream = fh.createReadStream({ start: 0, highWaterMark: 1 << 18 }).pipe(createGunzip({ chunkSize: 1 << 18 }));
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (e) {
    // A truncated gzip (still being written, or cut) ends with an error after
    // the data it did hold: that data was delivered; say what happened.
    throw new CaptureError(path, `gzip: ${(e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR' ? 'compressed data ends early (file cut or still being written)' : (e as Error).message}`);
  } finally {
    stream.destroy();
    await fh.close().catch(() => undefined);
  }
}
