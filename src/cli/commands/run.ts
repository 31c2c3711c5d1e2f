// droptrace run: the sidecar (src/session/run.ts). Parses its options — every
// one from its row (src/cli/options.ts): flags > env (DROPTRACE_*) > --config
// file (YAML/JSON) > defaults — and hands over.
import { command } from '../command.js';
import { RUN_ALL_OPTIONS } from '../options.js';
import { runSidecar, type RunOptions } from '../../session/run.js';

export const { builder, handler } = command('run', RUN_ALL_OPTIONS, (o) => runSidecar(o as unknown as RunOptions), {
  examples: [
    ['$0 --json --interval 10', 'flow records every 10 s on stdout'],
    ['$0 --output-dir /var/log/droptrace --es-url https://es:9200 --es-api-key-file /etc/droptrace/es.key', 'the sidecar: files and Elasticsearch'],
    ['$0 --config /etc/droptrace/droptrace.yaml', 'everything from a config file'],
  ],
});
