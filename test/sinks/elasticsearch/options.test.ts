import { describe, it, expect } from 'vitest';
import { esConnectionFromArgs, esOptionsFromArgs, normalizeFingerprint, validateNamespace } from '../../../src/sinks/elasticsearch/options.js';
import { UsageError } from '../../../src/errors.js';

const files: Record<string, string> = { '/k': 'aWQ6a2V5\n', '/pw': 's3cret\n', '/empty': '' };
const readSecret = (p: string) => {
  if (!(p in files)) throw new UsageError(`cannot read secret file ${p}`);
  return files[p].trim();
};

describe('Elasticsearch options', () => {
  it('reads the API key from a file, else from DROPTRACE_ES_API_KEY', () => {
    expect(esConnectionFromArgs({ 'es-url': 'http://h:9200', 'es-api-key-file': '/k' }, { readSecret, env: {} }).auth).toEqual({ apiKey: 'aWQ6a2V5' });
    expect(esConnectionFromArgs({ 'es-url': 'http://h:9200' }, { readSecret, env: { DROPTRACE_ES_API_KEY: 'envkey' } }).auth).toEqual({ apiKey: 'envkey' });
    expect(esConnectionFromArgs({ 'es-url': 'http://h:9200' }, { readSecret, env: {} }).auth).toBeUndefined();
  });

  it('basic auth needs a password from a file or DROPTRACE_ES_PASSWORD', () => {
    expect(esConnectionFromArgs({ 'es-url': 'http://h', 'es-username': 'u', 'es-password-file': '/pw' }, { readSecret, env: {} }).auth).toEqual({ username: 'u', password: 's3cret' });
    expect(esConnectionFromArgs({ 'es-url': 'http://h', 'es-username': 'u' }, { readSecret, env: { DROPTRACE_ES_PASSWORD: 'p' } }).auth).toEqual({ username: 'u', password: 'p' });
    expect(() => esConnectionFromArgs({ 'es-url': 'http://h', 'es-username': 'u' }, { readSecret, env: {} })).toThrow(/needs a password/);
    expect(() => esConnectionFromArgs({ 'es-url': 'http://h', 'es-password-file': '/pw' }, { readSecret, env: {} })).toThrow(/needs --es-username/);
  });

  it('refuses credentials in the URL (argv is world-readable)', () => {
    expect(() => esConnectionFromArgs({ 'es-url': 'https://elastic:pw@h:9200' }, { readSecret, env: {} })).toThrow(UsageError);
  });

  it('refuses unreadable secret files and non-http URLs', () => {
    expect(() => esConnectionFromArgs({ 'es-url': 'http://h', 'es-api-key-file': '/nope' }, { readSecret, env: {} })).toThrow(/cannot read/);
    expect(() => esConnectionFromArgs({ 'es-url': 'ftp://h' }, { env: {} })).toThrow(/http/);
    expect(() => esConnectionFromArgs({}, { env: {} })).toThrow(/--es-url is required/);
  });

  it('normalizes a pinned fingerprint and requires https for TLS options', () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    expect(normalizeFingerprint(fp)).toBe('ab'.repeat(32));
    expect(() => normalizeFingerprint('abc')).toThrow(/64 hex/);
    expect(esConnectionFromArgs({ 'es-url': 'https://h:9200', 'es-fingerprint': fp }, { env: {} }).tls).toEqual({ fingerprint: 'ab'.repeat(32) });
    expect(() => esConnectionFromArgs({ 'es-url': 'http://h:9200', 'es-ca-file': '/ca.pem' }, { env: {} })).toThrow(/https/);
  });

  it('validates namespaces like Elastic data stream names', () => {
    expect(validateNamespace('prod_eu1')).toBe('prod_eu1');
    for (const bad of ['Prod', 'a-b', '', 'a b', 'x*']) expect(() => validateNamespace(bad)).toThrow(UsageError);
  });

  it('builds sink options with defaults and bounds', () => {
    const o = esOptionsFromArgs({ 'es-url': 'http://h:9200/', 'es-spool-dir': '/s', 'es-batch-size': 500, 'es-flush-interval': 0.5 }, { env: {} });
    expect(o).toMatchObject({ url: 'http://h:9200', namespace: 'default', spoolDir: '/s', batchSize: 500, flushIntervalMs: 500, queueMax: 20000, spoolMaxBytes: 512 * 1024 * 1024 });
    expect(() => esOptionsFromArgs({ 'es-url': 'http://h', 'es-batch-size': 0 }, { env: {} })).toThrow(/es-batch-size/);
    expect(() => esOptionsFromArgs({ 'es-url': 'http://h', 'es-batch-size': 100, 'es-queue-max': 10 }, { env: {} })).toThrow(/queue-max/);
  });
});
