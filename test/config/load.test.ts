import { describe, it, expect } from 'vitest';
import { loadConfig, loadConfigWithSources, RUN_OPTIONS } from '../../src/cli/options.js';
import { envName } from '../../src/config/index.js';
import { UsageError } from '../../src/errors.js';

const files = (map: Record<string, string>) => (p: string) => {
  if (!(p in map)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return map[p];
};

function errorOf(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('loadConfig: defaults and precedence', () => {
  it('gives every schema default with no input', () => {
    const c = loadConfig({ argv: {}, env: {} });
    expect(c.interval).toBe(10);
    expect(c['max-flows']).toBe(16384);
    expect(c['collector-max-flows']).toBe(10000);
    expect(c['stream-rate']).toBe(0);
    expect(c['incoming-loss']).toBe(true);
    expect(c['kernel-stack']).toBe(false);
    expect(c['idle-timeout']).toBe(60);
    expect(c['stats-interval']).toBe(60);
    expect(c['file-max-bytes']).toBe(64 * 1024 * 1024);
    expect(c['file-max-age']).toBe(3600);
    expect(c['file-keep']).toBe(10);
    expect(c['file-gzip']).toBe(false);
    expect(c['es-namespace']).toBe('default');
    expect(c['es-batch-size']).toBe(1000);
    expect(c['es-flush-interval']).toBe(1);
    expect(c['output-dir']).toBeUndefined();
    expect(c['filter-port']).toBeUndefined();
  });

  it('flag > env > file > default, option by option', () => {
    const readFile = files({ '/c.yaml': 'interval: 30\nmax-flows: 100\nstats-interval: 7\nfile-keep: 3\n' });
    const { config, sources } = loadConfigWithSources({
      argv: { interval: '5', config: '/c.yaml' },
      env: { DROPTRACE_INTERVAL: '20', DROPTRACE_MAX_FLOWS: '200', DROPTRACE_STATS_INTERVAL: '' },
      readFile,
    });
    expect(config.interval).toBe(5);
    expect(config['max-flows']).toBe(200);
    expect(config['stats-interval']).toBe(7); // an empty env var counts as unset
    expect(config['file-keep']).toBe(3);
    expect(config['idle-timeout']).toBe(60);
    expect(sources).toMatchObject({ interval: 'flag', 'max-flows': 'env', 'stats-interval': 'file', 'file-keep': 'file', 'idle-timeout': 'default', 'output-dir': 'unset' });
  });

  it('a boolean flag set to false beats env and file', () => {
    const c = loadConfig({ argv: { 'incoming-loss': false, config: '/c.json' }, env: { DROPTRACE_INCOMING_LOSS: 'true' }, readFile: files({ '/c.json': '{"incoming-loss": true}' }) });
    expect(c['incoming-loss']).toBe(false);
    expect(loadConfig({ argv: {}, env: { DROPTRACE_INCOMING_LOSS: 'off', DROPTRACE_FILE_GZIP: 'yes' } })).toMatchObject({ 'incoming-loss': false, 'file-gzip': true });
  });

  it('finds the config file from DROPTRACE_CONFIG when --config is absent', () => {
    const c = loadConfig({ argv: {}, env: { DROPTRACE_CONFIG: '/e.yml' }, readFile: files({ '/e.yml': 'interval: 42' }) });
    expect(c.interval).toBe(42);
  });

  it('splits env lists on commas, keeps flag and file lists as given', () => {
    const c = loadConfig({
      argv: { 'filter-port': ['80', '443,8080'], config: '/c.yaml' },
      env: { DROPTRACE_FILTER_HOST: '10.0.0.1, 10.1.0.0/16,', DROPTRACE_FILTER_PORT: '1' },
      readFile: files({ '/c.yaml': 'filter-proto: [tcp, 17]\nexclude-reason: TCP_OLD_DATA\n' }),
    });
    expect(c['filter-port']).toEqual(['80', '443,8080']);
    expect(c['filter-host']).toEqual(['10.0.0.1', '10.1.0.0/16']);
    expect(c['filter-proto']).toEqual(['tcp', '17']);
    expect(c['exclude-reason']).toEqual(['TCP_OLD_DATA']);
  });
});

describe('loadConfig: value types', () => {
  it.each([
    ['64MiB', 64 * 1024 ** 2],
    ['100MB', 100e6],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['65536', 65536],
    [1048576, 1048576],
    ['512 kib', 512 * 1024],
  ])('file-max-bytes %j → %i bytes', (raw, bytes) => {
    expect(loadConfig({ argv: { 'file-max-bytes': raw }, env: {} })['file-max-bytes']).toBe(bytes);
  });

  it.each([
    ['90', 90],
    ['5m', 300],
    ['1h', 3600],
    ['1.5s', 1.5],
    ['0', 0],
    [120, 120],
  ])('file-max-age %j → %d s', (raw, s) => {
    expect(loadConfig({ argv: { 'file-max-age': raw }, env: {} })['file-max-age']).toBe(s);
  });

  it('normalizes an ES fingerprint with colons', () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    expect(loadConfig({ argv: { 'es-fingerprint': fp }, env: {} })['es-fingerprint']).toBe('ab'.repeat(32));
  });

  it('durations with units for whole-second options, and es-flush-interval in ms', () => {
    expect(loadConfig({ argv: { interval: '1m', 'es-flush-interval': '250ms' }, env: {} })).toMatchObject({ interval: 60, 'es-flush-interval': 0.25 });
  });

  it('schema rows are consistent: env names, defaults valid for their own rule', () => {
    for (const o of RUN_OPTIONS) {
      expect(envName(o.name)).toMatch(/^DROPTRACE_[A-Z0-9_]+$/);
      expect(o.name).toMatch(/^[a-z][a-z0-9-]*$/);
    }
    // Feeding every default back in as a flag must validate.
    const argv = Object.fromEntries(RUN_OPTIONS.filter((o) => 'default' in o).map((o) => [o.name, (o as { default: unknown }).default]));
    expect(() => loadConfig({ argv, env: {} })).not.toThrow();
  });
});

describe('loadConfig: errors name the key and the source', () => {
  it('env value: names the variable and the bad value', () => {
    const e = errorOf(() => loadConfig({ argv: {}, env: { DROPTRACE_INTERVAL: 'abc' } }));
    expect(e.message).toBe('DROPTRACE_INTERVAL: must be a whole number of seconds from 1 to 3600 (or with a unit: "500ms", "30s", "5m", "1h"), got "abc"');
    expect(e.exitCode).toBe(2);
  });

  it('flag values: out of range, not an integer, not a size, bad enum-like strings', () => {
    expect(errorOf(() => loadConfig({ argv: { 'max-flows': '0' }, env: {} })).message).toMatch(/^--max-flows: must be an integer from 1 to 1000000, got "0"$/);
    expect(errorOf(() => loadConfig({ argv: { 'file-keep': '2.5' }, env: {} })).message).toMatch(/^--file-keep: must be an integer/);
    expect(errorOf(() => loadConfig({ argv: { 'file-max-bytes': '64M' }, env: {} })).message).toMatch(/^--file-max-bytes: must be a size in bytes .*got "64M"/);
    expect(errorOf(() => loadConfig({ argv: { interval: '1.5' }, env: {} })).message).toMatch(/^--interval: must be a whole number of seconds/);
    expect(errorOf(() => loadConfig({ argv: { 'es-namespace': 'Prod-1' }, env: {} })).message).toMatch(/^--es-namespace: must be 1-100 lowercase .*got "Prod-1"/);
    expect(errorOf(() => loadConfig({ argv: { 'es-fingerprint': 'abc' }, env: {} })).message).toMatch(/^--es-fingerprint: must be a SHA-256/);
    expect(errorOf(() => loadConfig({ argv: { 'es-url': 'https://u:p@h:9200' }, env: {} })).message).toMatch(/^--es-url: must not carry credentials/);
    expect(errorOf(() => loadConfig({ argv: { 'es-url': 'ftp://h' }, env: {} })).message).toMatch(/^--es-url: must be http/);
    expect(errorOf(() => loadConfig({ argv: { 'host-name': 'a b' }, env: {} })).message).toMatch(/^--host-name:/);
    expect(errorOf(() => loadConfig({ argv: { 'output-dir': '' }, env: {} })).message).toMatch(/^--output-dir: must not be empty/);
    expect(errorOf(() => loadConfig({ argv: {}, env: { DROPTRACE_FILE_GZIP: 'maybe' } })).message).toBe('DROPTRACE_FILE_GZIP: must be true or false, got "maybe"');
  });

  it('escapes control and bidi characters in echoed values', () => {
    const m = errorOf(() => loadConfig({ argv: { 'max-flows': '1\u001b[2J\u202e' }, env: {} })).message;
    expect(m).not.toMatch(/[\u001b\u202e]/);
    expect(m).toContain('\\u001b');
    expect(m).toContain('\\u202e');
  });

  it('reports every problem at once, including a file value overridden by a flag', () => {
    const e = errorOf(() =>
      loadConfig({ argv: { interval: '5', config: 'd.yaml' }, env: { DROPTRACE_MAX_FLOWS: '-1' }, readFile: files({ 'd.yaml': 'interval: soon\nintervall: 3\n' }) }),
    );
    expect(e.message).toContain('invalid configuration:');
    expect(e.message).toContain('config file d.yaml: unknown key "intervall" (did you mean "interval"?)');
    expect(e.message).toContain('config file d.yaml: "interval": must be a whole number of seconds');
    expect(e.message).toContain('DROPTRACE_MAX_FLOWS: must be an integer from 1 to 1000000, got "-1"');
  });

  it('unreadable or unparsable config files', () => {
    expect(errorOf(() => loadConfig({ argv: { config: '/missing.yaml' }, env: {}, readFile: files({}) })).message).toBe('cannot read config file /missing.yaml: ENOENT');
    expect(errorOf(() => loadConfig({ argv: { config: '/x.json' }, env: {}, readFile: files({ '/x.json': '{"interval": 1,}' }) })).message).toMatch(/^config file \/x\.json: not valid JSON/);
    expect(errorOf(() => loadConfig({ argv: { config: '/x.yaml' }, env: {}, readFile: files({ '/x.yaml': 'interval: [1\n' }) })).message).toMatch(/^config file \/x\.yaml: not valid YAML/);
    expect(errorOf(() => loadConfig({ argv: { config: '/x.yaml' }, env: {}, readFile: files({ '/x.yaml': 'interval: 1\ninterval: 2\n' }) })).message).toBe('config file /x.yaml: not valid YAML: duplicate key at line 2, column 1');
    expect(errorOf(() => loadConfig({ argv: { config: '/x.yaml' }, env: {}, readFile: files({ '/x.yaml': '- 1\n- 2\n' }) })).message).toBe('config file /x.yaml: must be a mapping of option names to values');
  });
});
