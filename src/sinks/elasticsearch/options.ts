// Elasticsearch sink options: flags → a validated options object.
// Secrets come from files or environment variables only, never from argv
// (argv is world-readable in /proc/<pid>/cmdline).
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import { redact, registerBasicAuth, registerSecret } from '../../text/redact.js';

export type EsAuth = { apiKey: string } | { username: string; password: string };

export interface EsTls {
  /** PEM file of the CA that signed the server certificate. */
  caFile?: string;
  /** Pinned SHA-256 of the server's CA certificate (hex, colons optional), as Elasticsearch prints it. */
  fingerprint?: string;
}

export interface EsConnection {
  url: string;
  auth?: EsAuth;
  tls?: EsTls;
}

export const DEFAULT_NAMESPACE = 'default';

export const ENV_API_KEY = 'DROPTRACE_ES_API_KEY';
export const ENV_PASSWORD = 'DROPTRACE_ES_PASSWORD';

/** yargs flags shared by `run` and `setup elasticsearch`. */
export function withEsConnectionOptions<T>(y: Argv<T>) {
  return y
    .option('es-url', { type: 'string', describe: 'Elasticsearch URL, e.g. https://es.example:9200' })
    .option('es-api-key-file', { type: 'string', describe: `File holding an API key (the base64 "id:key" form). Env: ${ENV_API_KEY}` })
    .option('es-username', { type: 'string', describe: 'User for basic auth (password from --es-password-file or env)' })
    .option('es-password-file', { type: 'string', describe: `File holding the basic-auth password. Env: ${ENV_PASSWORD}` })
    .option('es-ca-file', { type: 'string', describe: 'PEM CA certificate to verify the server with' })
    .option('es-fingerprint', { type: 'string', describe: "Pin the server CA certificate's SHA-256 fingerprint (hex)" })
    .option('es-namespace', { type: 'string', default: DEFAULT_NAMESPACE, describe: 'Data stream namespace: logs-droptrace.drops-<namespace>, …' });
}

/** Extra flags of the shipping sink (`run`). */
export function withEsSinkOptions<T>(y: Argv<T>) {
  return withEsConnectionOptions(y)
    .option('es-spool-dir', { type: 'string', default: '/var/lib/droptrace/es-spool', describe: 'On-disk spool for records Elasticsearch could not take yet (0700)' })
    .option('es-spool-max-mb', { type: 'number', default: 512, describe: 'Spool size limit; when full, the oldest segment is dropped (counted as dropped_by_policy)' })
    .option('es-batch-size', { type: 'number', default: 1000, describe: 'Records per bulk request' })
    .option('es-flush-interval', { type: 'number', default: 1, describe: 'Seconds between flushes of a partial batch' })
    .option('es-queue-max', { type: 'number', default: 20000, describe: 'Records held in memory before spilling to the spool' })
    .option('es-dead-letter', { type: 'string', describe: 'NDJSON file for records Elasticsearch rejected (default: <spool dir>/dead-letter.ndjson)' });
}

export interface EsArgs {
  'es-url'?: string;
  'es-api-key-file'?: string;
  'es-username'?: string;
  'es-password-file'?: string;
  'es-ca-file'?: string;
  'es-fingerprint'?: string;
  'es-namespace'?: string;
  'es-spool-dir'?: string;
  'es-spool-max-mb'?: number;
  'es-batch-size'?: number;
  'es-flush-interval'?: number;
  'es-queue-max'?: number;
  'es-dead-letter'?: string;
}

export interface EsArgsDeps {
  env?: NodeJS.ProcessEnv;
  readSecret?: (path: string) => string;
}

export interface EsSinkArgsResult extends EsConnection {
  namespace: string;
  spoolDir: string;
  spoolMaxBytes: number;
  batchSize: number;
  flushIntervalMs: number;
  queueMax: number;
  deadLetterPath?: string;
}

function readSecretFile(path: string): string {
  try {
    const v = readFileSync(path, 'utf8').trim();
    registerSecret(v);
    return v;
  } catch (e) {
    throw new UsageError(`cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function validateUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--es-url: not a URL: ${redact(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--es-url must be http:// or https://, got ${u.protocol}`);
  if (u.username || u.password) {
    throw new UsageError('--es-url must not carry credentials', `Use --es-username with --es-password-file or ${ENV_PASSWORD}, or --es-api-key-file / ${ENV_API_KEY}.`);
  }
  return u.toString().replace(/\/$/, '');
}

export function validateNamespace(ns: string): string {
  // Elastic's data stream naming: lowercase, no '-' (it separates type-dataset-namespace).
  if (!/^[a-z0-9][a-z0-9_]{0,99}$/.test(ns)) throw new UsageError(`--es-namespace must be lowercase letters, digits and _ (no '-'), got ${JSON.stringify(ns)}`);
  return ns;
}

export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError('--es-fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons optional');
  return hex;
}

/** The connection part: URL, auth (files/env), TLS. */
export function esConnectionFromArgs(a: EsArgs, deps: EsArgsDeps = {}): EsConnection {
  const env = deps.env ?? process.env;
  const read = deps.readSecret ?? readSecretFile;
  if (!a['es-url']) throw new UsageError('--es-url is required');
  const url = validateUrl(a['es-url']);

  let auth: EsAuth | undefined;
  const apiKey = a['es-api-key-file'] ? read(a['es-api-key-file']) : env[ENV_API_KEY]?.trim() || undefined;
  if (a['es-username'] !== undefined) {
    if (apiKey && a['es-api-key-file']) throw new UsageError('choose one of API key and basic auth, not both');
    const password = a['es-password-file'] ? read(a['es-password-file']) : env[ENV_PASSWORD];
    if (!password) throw new UsageError(`--es-username needs a password: --es-password-file or ${ENV_PASSWORD}`);
    auth = { username: a['es-username'], password };
    registerBasicAuth(a['es-username'], password);
  } else if (a['es-password-file']) {
    throw new UsageError('--es-password-file needs --es-username');
  } else if (apiKey) {
    registerSecret(apiKey);
    auth = { apiKey };
  }
  if (auth && 'apiKey' in auth && !auth.apiKey) throw new UsageError('the API key file is empty');

  const tls: EsTls = {};
  if (a['es-ca-file']) tls.caFile = a['es-ca-file'];
  if (a['es-fingerprint']) tls.fingerprint = normalizeFingerprint(a['es-fingerprint']);
  if ((tls.caFile || tls.fingerprint) && !url.startsWith('https:')) throw new UsageError('--es-ca-file / --es-fingerprint need an https:// --es-url');
  return { url, ...(auth ? { auth } : {}), ...(tls.caFile || tls.fingerprint ? { tls } : {}) };
}

function positiveInt(name: string, v: number | undefined, fallback: number, max: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}, got ${v}`);
  return n;
}

/** Everything `run` needs to build the sink, validated. */
export function esOptionsFromArgs(a: EsArgs, deps: EsArgsDeps = {}): EsSinkArgsResult {
  const conn = esConnectionFromArgs(a, deps);
  const flush = a['es-flush-interval'] ?? 1;
  if (!Number.isFinite(flush) || flush <= 0 || flush > 3600) throw new UsageError(`--es-flush-interval must be seconds in (0, 3600], got ${flush}`);
  const batchSize = positiveInt('es-batch-size', a['es-batch-size'], 1000, 100_000);
  const queueMax = positiveInt('es-queue-max', a['es-queue-max'], 20_000, 10_000_000);
  if (queueMax < batchSize) throw new UsageError(`--es-queue-max (${queueMax}) must be at least --es-batch-size (${batchSize})`);
  const spoolDir = a['es-spool-dir'] ?? '/var/lib/droptrace/es-spool';
  return {
    ...conn,
    namespace: validateNamespace(a['es-namespace'] ?? DEFAULT_NAMESPACE),
    spoolDir,
    spoolMaxBytes: positiveInt('es-spool-max-mb', a['es-spool-max-mb'], 512, 1_000_000) * 1024 * 1024,
    batchSize,
    flushIntervalMs: Math.round(flush * 1000),
    queueMax,
    ...(a['es-dead-letter'] ? { deadLetterPath: a['es-dead-letter'] } : {}),
  };
}
