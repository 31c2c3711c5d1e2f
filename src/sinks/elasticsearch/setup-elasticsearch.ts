// `droptrace setup elasticsearch`: install templates, create data streams.
// Idempotent: PUTs of the same bodies, existing data streams kept (their
// write index gets any new fields of the mapping).
import { errors, type Client } from '@elastic/elasticsearch';
import { SinkError } from '../../errors.js';
import { probeConnection } from './client.js';
import type { EsConnection } from './options.js';
import {
  componentTemplates, indexTemplate, INDEX_TEMPLATES, COMPONENT_MAPPINGS, dataStreamNames, mappings, type TemplateOptions,
} from './templates.js';

export interface SetupOptions {
  namespace: string;
  retention: string;
  log?: (m: string) => void;
}

export interface SetupResult {
  componentTemplates: string[];
  indexTemplates: string[];
  constantKeyword: boolean;
  dataStreams: Array<{ name: string; state: 'created' | 'existing' }>;
  retention: string;
}

type Req = { method: string; path: string; body?: Record<string, unknown>; bulkBody?: string; querystring?: Record<string, string> };

async function call<T = unknown>(client: Client, r: Req): Promise<T> {
  return client.transport.request<T>(r, { maxRetries: 0, requestTimeout: 30_000 });
}

function esReason(e: unknown): string {
  if (e instanceof errors.ResponseError) {
    const b = e.meta.body as { error?: { type?: string; reason?: string; caused_by?: { reason?: string; caused_by?: { reason?: string } } } };
    const deepest = b?.error?.caused_by?.caused_by?.reason ?? b?.error?.caused_by?.reason;
    return `${e.meta.statusCode} ${b?.error?.type ?? ''}: ${b?.error?.reason ?? e.message}${deepest ? ` (${deepest})` : ''}`;
  }
  return (e as Error)?.message ?? String(e);
}

const status = (e: unknown) => (e instanceof errors.ResponseError ? e.meta.statusCode ?? 0 : 0);

export async function setupElasticsearch(client: Client, conn: EsConnection, o: SetupOptions): Promise<SetupResult> {
  const log = o.log ?? (() => undefined);
  const reach = await probeConnection(client, conn);
  if (!reach.ok) throw new SinkError(`cannot reach Elasticsearch at ${conn.url}: ${reach.reason}`);

  // constant_keyword lives in a plugin: default distributions have it, the
  // minimal integ-test distribution does not. Fall back to keyword there.
  const opts: TemplateOptions = { retention: o.retention, constantKeyword: true };
  let components = componentTemplates(opts);
  try {
    await call(client, { method: 'PUT', path: `/_component_template/${COMPONENT_MAPPINGS}`, body: components[COMPONENT_MAPPINGS] });
  } catch (e) {
    if (!/constant_keyword/.test(esReason(e))) throw new SinkError(`installing ${COMPONENT_MAPPINGS} failed: ${esReason(e)}`);
    opts.constantKeyword = false;
    components = componentTemplates(opts);
    log('this cluster has no constant_keyword field type; data_stream.* are mapped as keyword');
  }
  for (const [name, body] of Object.entries(components)) {
    try {
      await call(client, { method: 'PUT', path: `/_component_template/${encodeURIComponent(name)}`, body });
    } catch (e) {
      throw new SinkError(`installing component template ${name} failed: ${esReason(e)}`);
    }
  }
  for (const spec of INDEX_TEMPLATES) {
    try {
      await call(client, { method: 'PUT', path: `/_index_template/${spec.name}`, body: indexTemplate(spec, opts) });
    } catch (e) {
      throw new SinkError(`installing index template ${spec.name} failed: ${esReason(e)}`);
    }
  }

  const dataStreams: SetupResult['dataStreams'] = [];
  for (const name of dataStreamNames(o.namespace)) {
    if (await dataStreamExists(client, name)) {
      await updateWriteIndexMapping(client, name, opts, log);
      dataStreams.push({ name, state: 'existing' });
      continue;
    }
    await createDataStream(client, name, log);
    if (!(await dataStreamExists(client, name))) throw new SinkError(`data stream ${name} was not created`);
    dataStreams.push({ name, state: 'created' });
  }
  return {
    componentTemplates: Object.keys(components),
    indexTemplates: INDEX_TEMPLATES.map((t) => t.name),
    constantKeyword: opts.constantKeyword,
    dataStreams,
    retention: o.retention,
  };
}

export async function dataStreamExists(client: Client, name: string): Promise<boolean> {
  // _resolve/index is in every distribution (GET _data_stream is not).
  let r: { data_streams?: Array<{ name: string }>; indices?: Array<{ name: string }> };
  try {
    r = await call(client, { method: 'GET', path: `/_resolve/index/${encodeURIComponent(name)}` });
  } catch (e) {
    if (status(e) === 404) return false;
    throw new SinkError(`cannot look up ${name}: ${esReason(e)}`);
  }
  if (r.indices?.some((i) => i.name === name)) {
    throw new SinkError(`${name} exists as a plain index, not a data stream`, 'It was written before the templates were installed; reindex or delete it, then run setup again.');
  }
  return !!r.data_streams?.some((d) => d.name === name);
}

async function createDataStream(client: Client, name: string, log: (m: string) => void): Promise<void> {
  try {
    await call(client, { method: 'PUT', path: `/_data_stream/${encodeURIComponent(name)}` });
    return;
  } catch (e) {
    const s = status(e);
    if (s === 400 && /already_exists/.test(esReason(e))) return;
    // 405/404/400 "no handler": a distribution without the data streams API
    // (the integ-test zip). Indexing auto-creates the stream from the
    // template; an empty document (no @timestamp) creates it and is refused.
    if (s !== 405 && s !== 404 && !/no handler|Incorrect HTTP method/i.test(esReason(e))) throw new SinkError(`creating data stream ${name} failed: ${esReason(e)}`);
  }
  log(`no data stream API on this cluster; creating ${name} through auto-creation`);
  try {
    await call(client, { method: 'POST', path: '/_bulk', bulkBody: `{"create":{"_index":${JSON.stringify(name)}}}\n{}\n`, querystring: { filter_path: 'items.*.status' } });
  } catch (e) {
    throw new SinkError(`creating data stream ${name} failed: ${esReason(e)}`);
  }
}

async function updateWriteIndexMapping(client: Client, name: string, opts: TemplateOptions, log: (m: string) => void): Promise<void> {
  // New backing indices get the template; the current write index gets the
  // additions now (PUT _mapping on a data stream targets its write index).
  const m = mappings(opts) as { properties: Record<string, unknown>; dynamic_templates: unknown[] };
  try {
    await call(client, { method: 'PUT', path: `/${encodeURIComponent(name)}/_mapping`, querystring: { write_index_only: 'true' }, body: { properties: m.properties, dynamic_templates: m.dynamic_templates } });
  } catch (e) {
    log(`${name}: the current write index keeps its mapping (${esReason(e)}); the next backing index uses the new template`);
  }
}
