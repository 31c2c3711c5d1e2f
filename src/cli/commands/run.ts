// droptrace run: the sidecar (src/session/run.ts). Parses its options — every
// one from its row (src/cli/options.ts): flags > env (DROPTRACE_*) > --config
// file (YAML/JSON) > defaults — and hands over.
import type { Argv } from 'yargs';
import { addRunOptions, loadCommandOptions, RUN_ALL_OPTIONS } from '../options.js';
import { runSidecar, type RunOptions } from '../../session/run.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addRunOptions(y)
    .example('$0 --json --interval 10', 'flow records every 10 s on stdout')
    .example('$0 --output-dir /var/log/droptrace --es-url https://es:9200 --es-api-key-file /etc/droptrace/es.key', 'the sidecar: files and Elasticsearch')
    .example('$0 --config /etc/droptrace/droptrace.yaml', 'everything from a config file');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await runSidecar(loadCommandOptions('run', RUN_ALL_OPTIONS, argv, warnOnStderr) as unknown as RunOptions);
}
