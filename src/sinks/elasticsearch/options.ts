// Elasticsearch options: their rows (flags, env, config file: the option
// system of src/config) and the validated connection and sink options built
// from them. Secrets come from files or environment variables only, never
// from argv (argv is world-readable in /proc/<pid>/cmdline).
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import { redact, registerBasicAuth, registerSecret } from '../../text/redact.js';
import type { OptionGroup, OptionSpec } from '../../config/index.js';

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

const MiB = 1024 * 1024;

// The rules, as reasons (an option row's check) and as usage errors naming the flag.
function urlProblem(v: string): string | null {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be a URL such as https://es.example:9200';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `must be http:// or https://, not ${u.protocol}//`;
  if (u.username || u.password) return 'must not carry credentials (use es-username with es-password-file, or es-api-key-file)';
  return null;
}

function namespaceProblem(v: string): string | null {
  // Elastic data stream naming: lowercase, no '-' (it separates type-dataset-namespace), ≤ 100 bytes.
  return /^[a-z0-9][a-z0-9_]{0,99}$/.test(v) ? null : "must be 1-100 lowercase letters, digits and _ (no '-'), starting with a letter or digit";
}

/** 64 hex digits, colons allowed, lower-cased; null when it is not one. */
function fingerprintHex(v: string): string | null {
  const hex = v.replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

const check = (problem: (v: string) => string | null) => (v: string) => {
  const p = problem(v);
  if (p) throw new Error(p);
  return v;
};

export const ELASTICSEARCH: OptionGroup = { title: 'Elasticsearch', nest: { keys: ['elasticsearch', 'es'], prefix: 'es-' } };

/** What `run`, `pcap` and `setup elasticsearch` need to reach the cluster. */
export const ES_CONNECTION_OPTIONS = [
  { name: 'es-url', type: 'string', check: check(urlProblem), group: ELASTICSEARCH, describe: 'Elasticsearch URL, e.g. https://es.example:9200' },
  { name: 'es-namespace', type: 'string', default: DEFAULT_NAMESPACE, check: check(namespaceProblem), group: ELASTICSEARCH, describe: 'Data stream namespace: logs-droptrace.drops-<namespace>, …' },
  { name: 'es-api-key-file', type: 'string', path: true, secretFile: true, group: ELASTICSEARCH, describe: 'File holding an API key (base64 "id:key"); or env DROPTRACE_ES_API_KEY' },
  { name: 'es-username', type: 'string', group: ELASTICSEARCH, describe: 'User for basic auth (password from es-password-file or env DROPTRACE_ES_PASSWORD)' },
  { name: 'es-password-file', type: 'string', path: true, secretFile: true, group: ELASTICSEARCH, describe: 'File holding the basic-auth password' },
  { name: 'es-ca-file', type: 'string', path: true, group: ELASTICSEARCH, describe: 'PEM CA certificate to verify the server with' },
  {
    name: 'es-fingerprint', type: 'string', group: ELASTICSEARCH, describe: "Pin the server CA certificate's SHA-256 fingerprint (hex, colons allowed)",
    check: (v: string) => fingerprintHex(v) ?? (() => { throw new Error('must be a SHA-256 fingerprint: 64 hex digits, colons allowed'); })(),
  },
] as const satisfies readonly OptionSpec[];

/** The shipping sink's own (spool, batches, dead letters). */
export const ES_SINK_OPTIONS = [
  { name: 'es-spool-dir', type: 'string', path: true, default: '/var/lib/droptrace/es-spool', group: ELASTICSEARCH, describe: 'On-disk spool for records Elasticsearch could not take yet (0700)' },
  { name: 'es-spool-max-bytes', type: 'bytes', default: 512 * MiB, min: 1 * MiB, max: 1024 ** 4, group: ELASTICSEARCH, describe: 'Spool size limit; when full, the oldest segment is dropped (counted)' },
  { name: 'es-batch-size', type: 'int', default: 1000, min: 1, max: 100_000, group: ELASTICSEARCH, describe: 'Records per bulk request' },
  { name: 'es-flush-interval', type: 'duration', default: 1, min: 0.001, max: 3600, group: ELASTICSEARCH, describe: 'Flush a partial batch after this long' },
  { name: 'es-queue-max', type: 'int', default: 20_000, min: 1, max: 10_000_000, group: ELASTICSEARCH, describe: 'Records held in memory before spilling to the spool' },
  { name: 'es-dead-letter', type: 'string', path: true, group: ELASTICSEARCH, describe: 'NDJSON file for records Elasticsearch rejected (default: <spool dir>/dead-letter.ndjson)' },
] as const satisfies readonly OptionSpec[];

export interface EsArgs {
  'es-url'?: string;
  'es-api-key-file'?: string;
  'es-username'?: string;
  'es-password-file'?: string;
  'es-ca-file'?: string;
  'es-fingerprint'?: string;
  'es-namespace'?: string;
  'es-spool-dir'?: string;
  'es-spool-max-bytes'?: number;
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

/** A secret from a file, trimmed, masked in every message from now on (src/text/redact.ts). */
export function readSecretFile(path: string): string {
  try {
    const v = readFileSync(path, 'utf8').trim();
    registerSecret(v);
    return v;
  } catch (e) {
    throw new UsageError(`cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A URL for `flag` (an http(s) URL without credentials), without a trailing slash. */
export function validateUrl(raw: string, flag = 'es-url'): string {
  const p = urlProblem(raw);
  if (p === 'must be a URL such as https://es.example:9200') throw new UsageError(`--${flag}: not a URL: ${redact(raw)}`);
  if (p?.startsWith('must not carry credentials')) {
    throw new UsageError(`--${flag} must not carry credentials`, `Use --es-username with --es-password-file or ${ENV_PASSWORD}, or --es-api-key-file / ${ENV_API_KEY}.`);
  }
  if (p) throw new UsageError(`--${flag} must be http:// or https://, got ${new URL(raw).protocol}`);
  return new URL(raw).toString().replace(/\/$/, '');
}

export function validateNamespace(ns: string): string {
  if (namespaceProblem(ns)) throw new UsageError(`--es-namespace must be lowercase letters, digits and _ (no '-'), got ${JSON.stringify(ns)}`);
  return ns;
}

export function normalizeFingerprint(fp: string): string {
  const hex = fingerprintHex(fp);
  if (!hex) throw new UsageError('--es-fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons optional');
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

/** Everything the sink needs, validated (values already typed by the option rows; bounds checked again for callers without them). */
export function esOptionsFromArgs(a: EsArgs, deps: EsArgsDeps = {}): EsSinkArgsResult {
  const conn = esConnectionFromArgs(a, deps);
  const flush = a['es-flush-interval'] ?? 1;
  if (!Number.isFinite(flush) || flush <= 0 || flush > 3600) throw new UsageError(`--es-flush-interval must be seconds in (0, 3600], got ${flush}`);
  const batchSize = positiveInt('es-batch-size', a['es-batch-size'], 1000, 100_000);
  const queueMax = positiveInt('es-queue-max', a['es-queue-max'], 20_000, 10_000_000);
  if (queueMax < batchSize) throw new UsageError(`--es-queue-max (${queueMax}) must be at least --es-batch-size (${batchSize})`);
  return {
    ...conn,
    namespace: validateNamespace(a['es-namespace'] ?? DEFAULT_NAMESPACE),
    spoolDir: a['es-spool-dir'] ?? '/var/lib/droptrace/es-spool',
    spoolMaxBytes: positiveInt('es-spool-max-bytes', a['es-spool-max-bytes'], 512 * MiB, 1024 ** 4),
    batchSize,
    flushIntervalMs: Math.round(flush * 1000),
    queueMax,
    ...(a['es-dead-letter'] ? { deadLetterPath: a['es-dead-letter'] } : {}),
  };
}
