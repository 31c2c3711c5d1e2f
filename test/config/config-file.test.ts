import { describe, it, expect } from 'vitest';
import { loadConfig } from '../../src/cli/options.js';

const load = (path: string, text: string, argv: Record<string, unknown> = {}) =>
  loadConfig({ argv: { ...argv, config: path }, env: {}, readFile: (p) => (p === path ? text : '') });

const YAML = `
interval: 30
output-dir: /var/log/droptrace
incoming-loss: false
filter-port: [80, 443]
elasticsearch:
  url: https://es.example:9200
  namespace: prod
  api-key-file: /etc/droptrace/es-key
  spool-max-bytes: 1GiB
files:
  max-bytes: 100MB
  max-age: 15m
  keep: 5
  gzip: true
filters:
  reason: [NETFILTER_DROP]
  exclude-reason: TCP_OLD_DATA
`;

const JSON_TEXT = JSON.stringify({
  interval: 30,
  'output-dir': '/var/log/droptrace',
  'incoming-loss': false,
  'filter-port': [80, 443],
  elasticsearch: { url: 'https://es.example:9200', namespace: 'prod', 'api-key-file': '/etc/droptrace/es-key', 'spool-max-bytes': '1GiB' },
  files: { 'max-bytes': '100MB', 'max-age': '15m', keep: 5, gzip: true },
  filters: { reason: ['NETFILTER_DROP'], 'exclude-reason': 'TCP_OLD_DATA' },
});

const EXPECTED = {
  interval: 30,
  'output-dir': '/var/log/droptrace',
  'incoming-loss': false,
  'filter-port': ['80', '443'],
  'es-url': 'https://es.example:9200',
  'es-namespace': 'prod',
  'es-api-key-file': '/etc/droptrace/es-key',
  'es-spool-max-bytes': 1024 ** 3,
  'file-max-bytes': 100e6,
  'file-max-age': 900,
  'file-keep': 5,
  'file-gzip': true,
  'filter-reason': ['NETFILTER_DROP'],
  'exclude-reason': ['TCP_OLD_DATA'],
};

describe('config file', () => {
  it.each([
    ['droptrace.yaml', YAML],
    ['droptrace.yml', YAML],
    ['droptrace.json', JSON_TEXT],
    ['droptrace.conf', YAML], // by content
    ['droptrace.conf', JSON_TEXT], // by content
  ])('%s: flat and nested keys give the same RunConfig', (path, text) => {
    expect(load(path, text)).toMatchObject(EXPECTED);
  });

  it('an empty file is an empty config', () => {
    expect(load('e.yaml', '').interval).toBe(10);
  });

  it('unknown keys, flat and nested, with suggestions', () => {
    expect(() => load('droptrace.yaml', 'intervall: 5\n')).toThrow('config file droptrace.yaml: unknown key "intervall" (did you mean "interval"?)');
    expect(() => load('droptrace.yaml', 'max_flows: 5\n')).toThrow('unknown key "max_flows" (did you mean "max-flows"?)');
    expect(() => load('droptrace.yaml', 'elasticsearch:\n  urll: http://h\n')).toThrow('config file droptrace.yaml: unknown key "elasticsearch.urll" (did you mean "elasticsearch.url"?)');
    expect(() => load('droptrace.yaml', 'files:\n  interval: 5\n')).toThrow('unknown key "files.interval"');
    expect(() => load('droptrace.yaml', 'interval: 5\nzzz: 1\n')).toThrow(/unknown key "zzz"$/);
    // Alone (nothing in the file is an option), an unknown key is not echoed: see test/config/file-limits.test.ts.
    expect(() => load('droptrace.yaml', 'zzz: 1\n')).toThrow(/its only top-level key is not a droptrace option: is it the right file\?/);
    expect(() => load('droptrace.yaml', 'config: other.yaml\n')).toThrow(/unknown key "config"/);
  });

  it('the same option twice (flat and nested) is an error', () => {
    expect(() => load('d.yaml', 'es-url: http://a\nelasticsearch:\n  url: http://b\n')).toThrow('config file d.yaml: "elasticsearch.url" sets es-url again (already set by "es-url")');
  });

  it('refuses secrets as values, pointing at the -file options', () => {
    expect(() => load('d.yaml', 'es-password: hunter2\n')).toThrow(/"es-password" is not accepted: secrets are never read from the config file; put the password in a file named by es-password-file/);
    expect(() => load('d.yaml', 'elasticsearch:\n  api-key: abc\n')).toThrow(/"elasticsearch.api-key" is not accepted/);
    // …and never echoes them.
    expect(() => load('d.yaml', 'es-password: hunter2\n')).not.toThrow(/hunter2/);
  });

  it('invalid values name the key as written', () => {
    expect(() => load('d.yaml', 'files:\n  keep: -1\n')).toThrow('config file d.yaml: "files.keep": must be an integer from 0 to 100000, got -1');
    expect(() => load('d.yaml', 'files: 5\n')).toThrow('config file d.yaml: "files" must be a mapping of Files options');
    expect(() => load('d.yaml', 'interval:\n')).toThrow('config file d.yaml: "interval" has no value (remove it to use the default)');
    expect(() => load('d.yaml', 'filter-port: {a: 1}\n')).toThrow(/"filter-port": must be a list of strings/);
  });

  it('flags override file values set in nested groups', () => {
    expect(load('d.yaml', 'files:\n  keep: 5\n', { 'file-keep': '7' })['file-keep']).toBe(7);
  });
});
