// droptrace setup elasticsearch | kibana
//   elasticsearch: component + index templates (explicit mapping, lifecycle
//                  retention), data streams of one namespace. Idempotent.
//   kibana:        import deploy/kibana/droptrace.ndjson (data views, saved
//                  searches, Lens panels, dashboard) through the saved objects API.
import type { Argv } from 'yargs';
import { fileURLToPath } from 'node:url';
import { UsageError, SinkError } from '../../errors.js';
import { withEsConnectionOptions, esConnectionFromArgs, validateNamespace, validateUrl, type EsArgs, type EsAuth } from '../../sinks/elasticsearch/options.js';
import { buildClient } from '../../sinks/elasticsearch/client.js';
import { setupElasticsearch } from '../../sinks/elasticsearch/setup-elasticsearch.js';
import { importKibanaAssets } from '../../sinks/elasticsearch/setup-kibana.js';
import { validateRetention } from '../../sinks/elasticsearch/templates.js';
import { readFileSync } from 'node:fs';
import { registerBasicAuth, registerSecret } from '../../text/redact.js';

export const DEFAULT_KIBANA_ASSETS = fileURLToPath(new URL('../../../deploy/kibana/droptrace.ndjson', import.meta.url));
export const ENV_KIBANA_API_KEY = 'DROPTRACE_KIBANA_API_KEY';
export const ENV_KIBANA_PASSWORD = 'DROPTRACE_KIBANA_PASSWORD';

export function builder(y: Argv) {
  return y
    .command('elasticsearch', 'Install index templates, lifecycle and data streams', (s) =>
      withEsConnectionOptions(s)
        .option('namespace', { type: 'string', describe: 'Data stream namespace (same as --es-namespace)' })
        .option('retention', { type: 'string', default: '30d', describe: 'Data stream lifecycle retention' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' }),
    )
    .command('kibana', 'Import the droptrace dashboard, data views and saved searches into Kibana', (s) =>
      s
        .option('kibana-url', { type: 'string', describe: 'Kibana URL, e.g. https://kibana.example:5601' })
        .option('kibana-space', { type: 'string', describe: 'Kibana space id (default space if absent)' })
        .option('kibana-api-key-file', { type: 'string', describe: `File holding a Kibana/Elasticsearch API key. Env: ${ENV_KIBANA_API_KEY}` })
        .option('kibana-username', { type: 'string', describe: 'User for basic auth' })
        .option('kibana-password-file', { type: 'string', describe: `File holding the password. Env: ${ENV_KIBANA_PASSWORD}` })
        .option('kibana-ca-file', { type: 'string', describe: 'PEM CA certificate to verify Kibana with' })
        .option('file', { type: 'string', describe: 'Saved objects NDJSON to import (default: the bundled deploy/kibana/droptrace.ndjson)' }),
    )
    .demandCommand(1, 'Name a target: `droptrace setup elasticsearch` or `droptrace setup kibana`.')
    .example('$0 elasticsearch --es-url https://es:9200 --es-api-key-file /etc/droptrace/es.key', '')
    .example('$0 kibana --kibana-url https://kibana:5601 --kibana-username elastic --kibana-password-file /etc/droptrace/kibana.pw', '');
}

interface SetupArgs extends EsArgs {
  _: (string | number)[];
  namespace?: string;
  retention: string;
  json: boolean;
  'kibana-url'?: string;
  'kibana-space'?: string;
  'kibana-api-key-file'?: string;
  'kibana-username'?: string;
  'kibana-password-file'?: string;
  'kibana-ca-file'?: string;
  file?: string;
}

const say = (m: string) => process.stderr.write(`droptrace: ${m}\n`);

export async function handler(argv: Record<string, unknown>): Promise<void> {
  const a = argv as unknown as SetupArgs;
  const target = String(a._[0] ?? '');
  if (target === 'elasticsearch') return setupEs(a);
  if (target === 'kibana') return setupKibana(a);
  throw new UsageError(`unknown setup target ${JSON.stringify(target)}`, 'Use `droptrace setup elasticsearch` or `droptrace setup kibana`.');
}

async function setupEs(a: SetupArgs): Promise<void> {
  const conn = esConnectionFromArgs(a);
  const namespace = validateNamespace(a.namespace ?? a['es-namespace'] ?? 'default');
  let retention: string;
  try {
    retention = validateRetention(a.retention);
  } catch (e) {
    throw new UsageError(`--retention: ${(e as Error).message}`);
  }
  const client = buildClient(conn);
  try {
    const r = await setupElasticsearch(client, conn, { namespace, retention, log: say });
    if (a.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    process.stdout.write(
      `component templates: ${r.componentTemplates.join(', ')}\n` +
        `index templates:     ${r.indexTemplates.join(', ')} (priority 200, retention ${r.retention})\n` +
        `data streams:        ${r.dataStreams.map((d) => `${d.name} (${d.state})`).join(', ')}\n`,
    );
  } finally {
    await client.close().catch(() => undefined);
  }
}

function readSecret(path: string): string {
  try {
    const v = readFileSync(path, 'utf8').trim();
    // Masked in every message from now on (text/redact.ts).
    registerSecret(v);
    return v;
  } catch (e) {
    throw new UsageError(`cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function kibanaAuth(a: SetupArgs, env: NodeJS.ProcessEnv = process.env): EsAuth | undefined {
  if (a['kibana-username'] !== undefined) {
    const password = a['kibana-password-file'] ? readSecret(a['kibana-password-file']) : env[ENV_KIBANA_PASSWORD];
    if (!password) throw new UsageError(`--kibana-username needs a password: --kibana-password-file or ${ENV_KIBANA_PASSWORD}`);
    registerBasicAuth(a['kibana-username'], password);
    return { username: a['kibana-username'], password };
  }
  const key = a['kibana-api-key-file'] ? readSecret(a['kibana-api-key-file']) : env[ENV_KIBANA_API_KEY]?.trim();
  return key ? { apiKey: key } : undefined;
}

async function setupKibana(a: SetupArgs): Promise<void> {
  if (!a['kibana-url']) throw new UsageError('--kibana-url is required');
  let url: string;
  try {
    url = validateUrl(a['kibana-url']);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/--es-url/g, '--kibana-url'));
  }
  const r = await importKibanaAssets({
    url,
    space: a['kibana-space'],
    auth: kibanaAuth(a),
    caFile: a['kibana-ca-file'],
    file: a.file ?? DEFAULT_KIBANA_ASSETS,
  }).catch((e) => {
    throw e instanceof SinkError ? e : new SinkError((e as Error).message);
  });
  process.stdout.write(`imported ${r.successCount} saved objects into ${url}${a['kibana-space'] ? ` (space ${a['kibana-space']})` : ''}\n`);
}
