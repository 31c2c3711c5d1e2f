// Every command's options come from one option system (src/config) composed
// in src/cli/options.ts: one name per concept across commands, the older
// names still read with a warning, the same precedence everywhere, and one
// config file any command can read.
import { describe, expect, it } from 'vitest';
import { envName, loadOptions, type OptionSpec } from '../../src/config/index.js';
import {
  ALL_OPTIONS, COUNTERS_OPTIONS, DOCTOR_OPTIONS, PCAP_OPTIONS_ALL, PROBES_OPTIONS, RUN_ALL_OPTIONS, SETUP_ES_OPTIONS, SETUP_KIBANA_OPTIONS, TAIL_OPTIONS, TOP_OPTIONS,
} from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';

const COMMANDS: Record<string, readonly OptionSpec[]> = {
  tail: TAIL_OPTIONS,
  top: TOP_OPTIONS,
  run: RUN_ALL_OPTIONS,
  pcap: PCAP_OPTIONS_ALL,
  counters: COUNTERS_OPTIONS,
  doctor: DOCTOR_OPTIONS,
  probes: PROBES_OPTIONS,
  'setup elasticsearch': SETUP_ES_OPTIONS,
  'setup kibana': SETUP_KIBANA_OPTIONS,
};

const names = (specs: readonly OptionSpec[]) => specs.map((s) => s.name);
const files = (map: Record<string, string>) => (p: string) => {
  if (!(p in map)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return map[p];
};

describe('every command', () => {
  it.each(Object.entries(COMMANDS))('%s: unique names (older names included), each with a group and a description, and its defaults load with no input', (command, specs) => {
    const all = specs.flatMap((s) => [s.name, ...(s.aliases ?? [])]);
    expect(new Set(all).size).toBe(all.length);
    for (const s of specs) {
      expect(s.group.title, s.name).toMatch(/^[A-Z]/);
      expect(s.describe.length, s.name).toBeGreaterThan(10);
    }
    const { config, warnings } = loadOptions(specs, { argv: {}, env: {}, command });
    expect(warnings).toEqual([]);
    for (const s of specs) expect(config[s.name], s.name).toEqual(s.default);
  });

  it('a concept has one name in every command that has it', () => {
    // The window or sampling period, the per-event budget, the namespace filter, the Elasticsearch namespace.
    for (const c of ['run', 'top', 'counters', 'pcap']) expect(names(COMMANDS[c]), c).toContain('interval');
    for (const c of ['tail', 'run']) expect(names(COMMANDS[c]), c).toContain('rate-limit');
    for (const c of ['tail', 'top', 'run', 'counters', 'doctor']) expect(names(COMMANDS[c]), c).toContain('filter-netns');
    for (const c of ['run', 'setup elasticsearch']) expect(names(COMMANDS[c]), c).toContain('es-namespace');
    // The older names are no option of their own anywhere.
    for (const old of ['refresh', 'netns', 'namespace']) expect(names(ALL_OPTIONS)).not.toContain(old);
    // An option two commands share is the same option (type) in both.
    const byName = new Map<string, OptionSpec>();
    for (const specs of Object.values(COMMANDS)) {
      for (const s of specs) {
        const seen = byName.get(s.name);
        if (seen) expect(s.type, s.name).toBe(seen.type);
        else byName.set(s.name, s);
      }
    }
  });
});

describe('older names: still read, with a warning that names the new one', () => {
  const cases: Array<[string, readonly OptionSpec[], string, string, string, unknown, RegExp]> = [
    // command, specs, old name, new name, raw value, parsed value, what the warning says
    ['top', TOP_OPTIONS, 'refresh', 'interval', '2', 2, /use --interval instead/],
    ['counters', COUNTERS_OPTIONS, 'netns', 'filter-netns', 'blue', ['blue'], /use --filter-netns instead/],
    ['setup elasticsearch', SETUP_ES_OPTIONS, 'namespace', 'es-namespace', 'prod', 'prod', /use --es-namespace instead/],
  ];

  it.each(cases)('%s --%s', (command, specs, old, now, raw, value, said) => {
    const flag = loadOptions(specs, { argv: { [old]: raw }, env: {}, command });
    expect(flag.config[now]).toEqual(value);
    expect(flag.warnings).toEqual([expect.stringMatching(new RegExp(`^--${old} is deprecated.*${said.source}`))]);
    const env = loadOptions(specs, { argv: {}, env: { [envName(old)]: raw }, command });
    expect(env.config[now]).toEqual(value);
    expect(env.warnings).toEqual([expect.stringMatching(new RegExp(`^${envName(old)} is deprecated.*use ${envName(now)} instead`))]);
    const file = loadOptions(specs, { argv: {}, env: {}, command, configPath: 'c.yaml', readFile: files({ 'c.yaml': `${old}: ${raw}\n` }), fileOptions: ALL_OPTIONS });
    expect(file.config[now]).toEqual(value);
    expect(file.warnings).toEqual([expect.stringMatching(new RegExp(`^config file c.yaml: "${old}" is deprecated.*use ${now} instead`))]);
    // The new name wins over the older one, whatever their sources.
    expect(loadOptions(specs, { argv: { [now]: raw === '2' ? '3' : 'other' }, env: { [envName(old)]: raw }, command }).config[now]).not.toEqual(value);
  });

  it('older names are validated like the new one', () => {
    expect(() => loadOptions(TOP_OPTIONS, { argv: { refresh: '0' }, env: {}, command: 'top' })).toThrow(/--refresh: must be a whole number of seconds from 1 to 60/);
  });

  it('run --stream-rate: deprecated for --events with --rate-limit, and still read', () => {
    const { config, warnings } = loadOptions(RUN_ALL_OPTIONS, { argv: { 'stream-rate': '5' }, env: {}, command: 'run' });
    expect(config['stream-rate']).toBe(5);
    expect(warnings).toEqual(['--stream-rate is deprecated: use --events (with --rate-limit N)']);
  });
});

describe('precedence: flags > env > config file > defaults, in every command', () => {
  // An option of each command, with a flag, an env and a file value.
  const cases: Array<[string, string, [string, string, string], [unknown, unknown, unknown]]> = [
    ['tail', 'rate-limit', ['1', '2', '3'], [1, 2, 3]],
    ['top', 'interval', ['1', '2', '3'], [1, 2, 3]],
    ['run', 'interval', ['1m', '20', '30'], [60, 20, 30]],
    ['pcap', 'pcap-after', ['delete', 'gzip', 'keep'], ['delete', 'gzip', 'keep']],
    ['counters', 'interval', ['0.5', '2', '3'], [0.5, 2, 3]],
    ['doctor', 'duration', ['5', '6', '7'], [5, 6, 7]],
    ['probes', 'bpftrace', ['/a', '/b', '/c'], ['/a', '/b', '/c']],
    ['setup elasticsearch', 'retention', ['1d', '2d', '3d'], ['1d', '2d', '3d']],
    ['setup kibana', 'kibana-space', ['a', 'b', 'c'], ['a', 'b', 'c']],
  ];

  it.each(cases)('%s --%s', (command, option, [flag, env, file], [fromFlag, fromEnv, fromFile]) => {
    const specs = COMMANDS[command];
    const spec = specs.find((s) => s.name === option)!;
    const readFile = files({ 'c.yaml': `${option}: ${JSON.stringify(file)}\n` });
    const load = (argv: Record<string, unknown>, e: Record<string, string>, configPath?: string) =>
      loadOptions(specs, { argv, env: e, command, configPath, readFile, fileOptions: ALL_OPTIONS });
    const all = load({ [option]: flag }, { [envName(option)]: env }, 'c.yaml');
    expect([all.config[option], all.sources[option]]).toEqual([fromFlag, 'flag']);
    const noFlag = load({}, { [envName(option)]: env }, 'c.yaml');
    expect([noFlag.config[option], noFlag.sources[option]]).toEqual([fromEnv, 'env']);
    const fileOnly = load({}, {}, 'c.yaml');
    expect([fileOnly.config[option], fileOnly.sources[option]]).toEqual([fromFile, 'file']);
    const none = load({}, {});
    expect(none.config[option]).toEqual(spec.default);
  });
});

describe('one config file for every command', () => {
  const shared = [
    'interval: 5',
    'view: reasons', // top's
    'output-dir: /var/log/droptrace', // run's (file sink) and pcap's
    'fail-on: high', // doctor's
    'filters:', '  port: [80, 443]',
    'elasticsearch:', '  url: https://es.example:9200',
  ].join('\n');

  it.each(Object.entries(COMMANDS))('%s reads its own keys and passes over the others', (command, specs) => {
    const { config } = loadOptions(specs, { argv: {}, env: {}, command, configPath: 'd.yaml', readFile: files({ 'd.yaml': shared }), fileOptions: ALL_OPTIONS });
    if (names(specs).includes('interval')) expect(config.interval).toBe(5);
    if (names(specs).includes('filter-port')) expect(config['filter-port']).toEqual(['80', '443']);
    if (names(specs).includes('es-url')) expect(config['es-url']).toBe('https://es.example:9200');
    if (names(specs).includes('view')) expect(config.view).toBe('reasons');
    if (names(specs).includes('fail-on')) expect(config['fail-on']).toBe('high');
  });

  it('a key no command knows is still an error, with a suggestion', () => {
    const err = (() => {
      try {
        loadOptions(COUNTERS_OPTIONS, { argv: {}, env: {}, command: 'counters', configPath: 'e.yaml', readFile: files({ 'e.yaml': 'intervall: 5\n' }), fileOptions: ALL_OPTIONS });
      } catch (e) {
        return e as UsageError;
      }
      throw new Error('expected a UsageError');
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/unknown key "intervall".*did you mean "interval"/);
    expect(err.hint).toContain('droptrace counters --help');
  });

  it("another command's key is validated by that command only", () => {
    // top's view must be one of its views, but counters does not read it.
    const readFile = files({ 'f.yaml': 'view: nonsense\n' });
    expect(() => loadOptions(COUNTERS_OPTIONS, { argv: {}, env: {}, configPath: 'f.yaml', readFile, fileOptions: ALL_OPTIONS })).not.toThrow();
    expect(() => loadOptions(TOP_OPTIONS, { argv: {}, env: {}, configPath: 'f.yaml', readFile, fileOptions: ALL_OPTIONS })).toThrow(/view/);
  });
});
