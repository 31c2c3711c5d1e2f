// Rotating NDJSON files (Filebeat-ready), one stream per record kind.
//
//   const files = new FileSinks({ dir, maxBytes, maxAgeMs, keep, gzip });  // throws SinkError if unusable
//   files.write(record); await files.flush(); await files.close(); files.stats();
//
// Layout in `dir` (0700, created if missing; an existing one must be ours and
// not a symlink, and is tightened to 0700 if looser):
//   events.ndjson  flows.ndjson  stats.ndjson            live files (0600), appended to across restarts
//   events-000001.ndjson[.gz] …                          rotated, numbering continues across restarts
// Options: maxBytes (default 64 MiB), maxAgeMs (1 h; 0 = off), keep (10 rotated per stream),
// gzip (false), flushIntervalMs (1000), bufferBytes (256 KiB), clock, onError, streams.
export { FileSinks, DEFAULT_STREAMS, type FileSinksOptions } from './file-sinks.js';
export { RotatingFileSink, DEFAULT_MAX_BYTES, DEFAULT_MAX_AGE_MS, DEFAULT_KEEP, type RotatingFileOptions } from './rotating-file-sink.js';
