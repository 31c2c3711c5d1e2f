// The rotating NDJSON files: their options (rows of the option system) and
// their registry entry.
import type { OptionGroup, OptionSpec } from '../../config/index.js';
import type { SinkDefinition } from '../sink.js';
import { FileSinks } from './file-sinks.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 86_400;

export const FILES: OptionGroup = { title: 'Files', nest: { keys: ['files', 'file'], prefix: 'file-' } };

export const FILE_OPTIONS = [
  { name: 'output-dir', type: 'string', path: true, group: FILES, describe: 'Write rotating NDJSON files (events, flows, stats) here (created 0700)' },
  { name: 'file-max-bytes', type: 'bytes', default: 64 * MiB, min: 4 * KiB, max: 1024 ** 4, group: FILES, describe: 'Rotate a file before it would exceed this size' },
  { name: 'file-max-age', type: 'duration', default: 3600, min: 0, max: 30 * DAY, group: FILES, describe: 'Rotate a non-empty file this long after it was opened (0 = by size only)' },
  { name: 'file-keep', type: 'int', default: 10, min: 0, max: 100_000, group: FILES, describe: 'Rotated files kept per stream; older ones are deleted' },
  { name: 'file-gzip', type: 'boolean', default: false, group: FILES, describe: 'gzip rotated files in the background' },
] as const satisfies readonly OptionSpec[];

export const fileSink: SinkDefinition = {
  name: 'files',
  options: FILE_OPTIONS,
  enabled: (cfg) => typeof cfg['output-dir'] === 'string',
  directories: (cfg) => [{ path: cfg['output-dir'] as string, what: 'output directory', flag: '--output-dir', lock: true }],
  open: async (cfg, ctx) => new FileSinks({
    dir: cfg['output-dir'] as string,
    maxBytes: cfg['file-max-bytes'] as number,
    maxAgeMs: (cfg['file-max-age'] as number) * 1000,
    keep: cfg['file-keep'] as number,
    gzip: cfg['file-gzip'] as boolean,
    onError: (e: unknown) => ctx.log(`files: ${(e as Error).message}`),
  }),
};
