// droptrace setup elasticsearch | kibana: parses the target's options
// (src/cli/options.ts) and hands over (src/session/setup.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { UsageError } from '../../errors.js';
import { loadCommandOptions, SETUP_ES_OPTIONS, SETUP_KIBANA_OPTIONS } from '../options.js';
import { setupEs, setupKibana } from '../../session/setup.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return y
    .command('elasticsearch', 'Install index templates, lifecycle and data streams', (s) => addOptions(s, SETUP_ES_OPTIONS))
    .command('kibana', 'Import the droptrace dashboard, data views and saved searches into Kibana', (s) => addOptions(s, SETUP_KIBANA_OPTIONS))
    .demandCommand(1, 'Name a target: `droptrace setup elasticsearch` or `droptrace setup kibana`.')
    .example('$0 elasticsearch --es-url https://es:9200 --es-api-key-file /etc/droptrace/es.key', '')
    .example('$0 kibana --kibana-url https://kibana:5601 --kibana-username elastic --kibana-password-file /etc/droptrace/kibana.pw', '');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const target = String((argv._ as unknown[])[0] ?? '');
  if (target === 'elasticsearch') return setupEs(loadCommandOptions('setup elasticsearch', SETUP_ES_OPTIONS, argv, warnOnStderr));
  if (target === 'kibana') return setupKibana(loadCommandOptions('setup kibana', SETUP_KIBANA_OPTIONS, argv, warnOnStderr));
  throw new UsageError(`unknown setup target ${JSON.stringify(target)}`, 'Use `droptrace setup elasticsearch` or `droptrace setup kibana`.');
}
