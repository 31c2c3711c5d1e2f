// gzip a rotated file off the hot path (zlib runs on libuv's thread pool).
// The plain file is removed only after `<name>.gz` is complete: the data is
// written to `<name>.gz.tmp`, fsynced (flush: true), then renamed (the commit point).
import { open, rename, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CREATE_NEW_NOFOLLOW, FILE_MODE, READ_NOFOLLOW } from '../../platform/private-files.js';

export async function gzipFile(src: string, dst: string, tmp: string, signal?: AbortSignal): Promise<void> {
  const input = await open(src, READ_NOFOLLOW);
  let output;
  try {
    output = await open(tmp, CREATE_NEW_NOFOLLOW, FILE_MODE);
  } catch (e) {
    await input.close();
    throw e;
  }
  try {
    // The streams own (and close) the handles; pipeline destroys both on error.
    await pipeline(input.createReadStream(), createGzip({ level: 6 }), output.createWriteStream({ flush: true }), { signal });
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await rename(tmp, dst);
  // Already gone if pruned meanwhile; the caller then removes the .gz too.
  await unlink(src).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}
