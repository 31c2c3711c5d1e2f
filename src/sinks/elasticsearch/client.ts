// Transport, TLS and auth come from @elastic/elasticsearch; batching,
// retries and spooling are ours (its bulk helper only flushes on idle).
// The client never retries on its own (maxRetries 0): one policy, in the sink.
import { readFileSync } from 'node:fs';
import { Client, errors } from '@elastic/elasticsearch';
import { SinkError } from '../../errors.js';
import type { EsConnection } from './options.js';

export interface ClientOptions extends EsConnection {
  requestTimeoutMs?: number;
}

export function buildClient(o: ClientOptions): Client {
  let ca: Buffer | undefined;
  if (o.tls?.caFile) {
    try {
      ca = readFileSync(o.tls.caFile);
    } catch (e) {
      throw new SinkError(`cannot read the CA file ${o.tls.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const tls = ca
    ? { ca }
    : o.tls?.fingerprint
      ? // The pin replaces chain verification: the transport compares the
        // chain's root against it after the handshake.
        { rejectUnauthorized: false }
      : undefined;
  return new Client({
    node: o.url,
    ...(o.auth ? { auth: o.auth } : {}),
    ...(tls ? { tls } : {}),
    ...(o.tls?.fingerprint && !ca ? { caFingerprint: o.tls.fingerprint } : {}),
    maxRetries: 0,
    requestTimeout: o.requestTimeoutMs ?? 30_000,
    compression: false,
  });
}

const TLS_FAILURE = /certificate|fingerprint|self[- ]signed|altnames|SSL|TLS|wrong version number|handshake/i;

export type Reachability = { ok: true } | { ok: false; reason: string };

/**
 * Check TLS and credentials once at start. Refusals that a retry cannot fix
 * (TLS verification, 401, 403) throw a SinkError right away instead of
 * turning into an endless retry loop; an unreachable server is not fatal
 * (records wait in the spool until it answers).
 */
export async function probeConnection(client: Client, o: EsConnection, timeoutMs = 10_000): Promise<Reachability> {
  try {
    // _authenticate needs no privilege beyond valid credentials; on a cluster
    // without security it answers with an error status, which still proves
    // TLS and reachability.
    await client.transport.request({ method: 'GET', path: '/_security/_authenticate' }, { requestTimeout: timeoutMs, maxRetries: 0 });
    return { ok: true };
  } catch (e) {
    return classifyProbeError(e, o);
  }
}

export function classifyProbeError(e: unknown, o: EsConnection): Reachability {
  if (e instanceof errors.ResponseError) {
    const status = e.meta.statusCode ?? 0;
    if (status === 401) {
      throw new SinkError(
        o.auth ? `Elasticsearch at ${o.url} rejected the credentials (401)` : `Elasticsearch at ${o.url} requires credentials (401)`,
        'Check the API key (--es-api-key-file / DROPTRACE_ES_API_KEY) or the user and password (--es-username, --es-password-file / DROPTRACE_ES_PASSWORD).',
      );
    }
    if (status === 403) {
      throw new SinkError(`Elasticsearch at ${o.url} refused access (403)`, 'The key or user needs create_doc and auto_configure on logs-droptrace.*, metrics-droptrace.*.');
    }
    // Any other answer means we reached an Elasticsearch over verified TLS.
    return { ok: true };
  }
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof errors.ConnectionError && TLS_FAILURE.test(msg)) {
    const how = o.tls?.fingerprint ? 'the pinned fingerprint' : o.tls?.caFile ? `the CA in ${o.tls.caFile}` : "the system's trusted CAs";
    throw new SinkError(`TLS verification of ${o.url} against ${how} failed: ${msg}`, 'Check --es-ca-file / --es-fingerprint (the SHA-256 of the server CA certificate).');
  }
  if (e instanceof errors.ProductNotSupportedError) {
    throw new SinkError(`${o.url} does not answer like Elasticsearch: ${msg}`);
  }
  return { ok: false, reason: msg };
}
