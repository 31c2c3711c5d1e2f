// The Elasticsearch sink's registry entry: its options, its directories
// (the spool, locked; the dead-letter file's), and how it is opened (the
// connection is probed first: a refused CA, fingerprint or credential fails
// before any probe is loaded).
import { dirname, join } from 'node:path';
import type { SinkDefinition } from '../sink.js';
import { ES_CONNECTION_OPTIONS, ES_SINK_OPTIONS, esOptionsFromArgs, type EsArgs } from './options.js';
import { createElasticsearchSink } from './sink.js';

export const elasticsearchSink: SinkDefinition = {
  name: 'elasticsearch',
  options: [...ES_CONNECTION_OPTIONS, ...ES_SINK_OPTIONS],
  enabled: (cfg) => typeof cfg['es-url'] === 'string',
  directories: (cfg) => {
    const spool = cfg['es-spool-dir'] as string;
    const deadLetter = (cfg['es-dead-letter'] as string | undefined) ?? join(spool, 'dead-letter.ndjson');
    return [
      { path: spool, what: 'spool directory', flag: '--es-spool-dir', lock: true },
      { path: dirname(deadLetter), what: 'dead-letter directory', flag: '--es-dead-letter', lock: false },
    ];
  },
  open: async (cfg, ctx) => createElasticsearchSink({ ...esOptionsFromArgs(cfg as EsArgs), log: (m) => ctx.log(m) }),
};
