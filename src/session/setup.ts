// `droptrace setup elasticsearch | kibana`
//   elasticsearch: component + index templates (explicit mapping, lifecycle
//                  retention), data streams of one namespace. Idempotent.
//   kibana:        import deploy/kibana/droptrace.ndjson (data views, saved
//                  searches, Lens panels, dashboard) through the saved objects API.
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { UsageError, SinkError } from '../errors.js';
import { esConnectionFromArgs, readSecretFile, validateNamespace, validateUrl, type EsArgs, type EsAuth } from '../sinks/elasticsearch/options.js';
import { buildClient } from '../sinks/elasticsearch/client.js';
import { setupElasticsearch } from '../sinks/elasticsearch/setup-elasticsearch.js';
import { importKibanaAssets } from '../sinks/elasticsearch/setup-kibana.js';
import { validateRetention } from '../sinks/elasticsearch/templates.js';
import { registerBasicAuth } from '../text/redact.js';

export const DEFAULT_KIBANA_ASSETS = fileURLToPath(new URL('../../deploy/kibana/droptrace.ndjson', import.meta.url));
export const ENV_KIBANA_API_KEY = 'DROPTRACE_KIBANA_API_KEY';
export const ENV_KIBANA_PASSWORD = 'DROPTRACE_KIBANA_PASSWORD';

export interface SetupEsOptions extends EsArgs {
  'es-namespace': string;
  retention: string;
  json: boolean;
}

export interface SetupKibanaOptions {
  'kibana-url'?: string;
  'kibana-space'?: string;
  'kibana-api-key-file'?: string;
  'kibana-username'?: string;
  'kibana-password-file'?: string;
  'kibana-ca-file'?: string;
  file?: string;
}

const say = (m: string) => process.stderr.write(`droptrace: ${m}\n`);

export async function setupEs(a: SetupEsOptions, stdout: Writable = process.stdout): Promise<void> {
  const conn = esConnectionFromArgs(a);
  const namespace = validateNamespace(a['es-namespace']);
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
      stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    stdout.write(
      `component templates: ${r.componentTemplates.join(', ')}\n` +
        `index templates:     ${r.indexTemplates.join(', ')} (priority 200, retention ${r.retention})\n` +
        `data streams:        ${r.dataStreams.map((d) => `${d.name} (${d.state})`).join(', ')}\n`,
    );
  } finally {
    await client.close().catch(() => undefined);
  }
}

export function kibanaAuth(a: SetupKibanaOptions, env: NodeJS.ProcessEnv = process.env): EsAuth | undefined {
  if (a['kibana-username'] !== undefined) {
    const password = a['kibana-password-file'] ? readSecretFile(a['kibana-password-file']) : env[ENV_KIBANA_PASSWORD];
    if (!password) throw new UsageError(`--kibana-username needs a password: --kibana-password-file or ${ENV_KIBANA_PASSWORD}`);
    registerBasicAuth(a['kibana-username'], password);
    return { username: a['kibana-username'], password };
  }
  const key = a['kibana-api-key-file'] ? readSecretFile(a['kibana-api-key-file']) : env[ENV_KIBANA_API_KEY]?.trim();
  return key ? { apiKey: key } : undefined;
}

export async function setupKibana(a: SetupKibanaOptions, stdout: Writable = process.stdout): Promise<void> {
  if (!a['kibana-url']) throw new UsageError('--kibana-url is required');
  const url = validateUrl(a['kibana-url'], 'kibana-url');
  const r = await importKibanaAssets({
    url,
    space: a['kibana-space'],
    auth: kibanaAuth(a),
    caFile: a['kibana-ca-file'],
    file: a.file ?? DEFAULT_KIBANA_ASSETS,
  }).catch((e) => {
    throw e instanceof SinkError ? e : new SinkError((e as Error).message);
  });
  stdout.write(`imported ${r.successCount} saved objects into ${url}${a['kibana-space'] ? ` (space ${a['kibana-space']})` : ''}\n`);
}
