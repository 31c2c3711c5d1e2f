// The file and Elasticsearch sinks a run config asks for (`run` and `pcap`
// alike). Opened before anything else happens: an unusable output directory
// or a refused Elasticsearch (bad CA, fingerprint or credentials) fails first.
import type { RunConfig } from '../config/index.js';
import type { Sink } from '../record/ecs.js';
import { FileSinks } from '../sinks/file/index.js';
import { createElasticsearchSink, esOptionsFromArgs, type EsArgs } from '../sinks/elasticsearch/index.js';

export function esArgsFrom(c: RunConfig): EsArgs {
  return {
    'es-url': c['es-url'], 'es-api-key-file': c['es-api-key-file'], 'es-username': c['es-username'], 'es-password-file': c['es-password-file'],
    'es-ca-file': c['es-ca-file'], 'es-fingerprint': c['es-fingerprint'], 'es-namespace': c['es-namespace'], 'es-spool-dir': c['es-spool-dir'],
    'es-spool-max-mb': c['es-spool-max-bytes'] !== undefined ? Math.max(1, Math.ceil(c['es-spool-max-bytes'] / 2 ** 20)) : undefined,
    'es-batch-size': c['es-batch-size'], 'es-flush-interval': c['es-flush-interval'], 'es-queue-max': c['es-queue-max'], 'es-dead-letter': c['es-dead-letter'],
  };
}

export async function openConfiguredSinks(cfg: RunConfig, log: (m: string) => void): Promise<Sink[]> {
  const sinks: Sink[] = [];
  try {
    if (cfg['output-dir']) {
      sinks.push(new FileSinks({
        dir: cfg['output-dir'], maxBytes: cfg['file-max-bytes'], maxAgeMs: cfg['file-max-age'] * 1000, keep: cfg['file-keep'], gzip: cfg['file-gzip'],
        onError: (e: unknown) => log(`files: ${(e as Error).message}`),
      }));
    }
    if (cfg['es-url']) sinks.push(await createElasticsearchSink({ ...esOptionsFromArgs(esArgsFrom(cfg)), log }));
  } catch (e) {
    await Promise.all(sinks.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
  return sinks;
}
