// loadConfig: flags > environment (DROPTRACE_*) > config file > defaults,
// every value validated by its schema row. All problems are reported at once,
// each naming the key and where it came from.
import { UsageError } from '../errors.js';
import { CONFIG_ENV, RUN_OPTIONS, SPEC_BY_NAME, envName, type OptionSpec, type RunConfig } from './schema.js';
import { parseValue, shown } from './parse-value.js';
import { defaultReadFile, flattenConfig, parseConfigText, type ReadFile } from './config-file.js';
import { ConfigFileError } from './file-limits.js';

export type ValueSource = 'flag' | 'env' | 'file' | 'default' | 'unset';

export interface LoadConfigInput {
  /** Parsed yargs argv (kebab-case keys); only schema options and `config` are read. */
  argv?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Config file; default: argv.config, then env DROPTRACE_CONFIG. */
  configPath?: string;
  readFile?: ReadFile;
}

export interface LoadedConfig {
  config: RunConfig;
  /** Where each option's value came from (for a startup log line or `--explain`). */
  sources: Record<string, ValueSource>;
  configPath?: string;
}

export function loadConfig(input: LoadConfigInput = {}): RunConfig {
  return loadConfigWithSources(input).config;
}

export function loadConfigWithSources(input: LoadConfigInput = {}): LoadedConfig {
  const argv = input.argv ?? {};
  const env = input.env ?? process.env;
  const errors: string[] = [];

  const configPath = input.configPath ?? nonEmpty(argv.config) ?? nonEmpty(env[CONFIG_ENV]);
  let fileValues = new Map<string, { raw: unknown; key: string }>();
  if (configPath !== undefined) {
    const where = `config file ${configPath}`;
    let text: string | undefined;
    try {
      text = (input.readFile ?? defaultReadFile)(configPath);
    } catch (e) {
      // Limit violations (file-limits.ts) are reasons; anything else is an errno code, never a message quoting content.
      const why = e instanceof ConfigFileError ? `${configPath} ${e.message}` : `cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      throw new UsageError(e instanceof ConfigFileError ? `config file ${why}` : why, 'A config file is a YAML or JSON mapping of run options (see `droptrace run --help`).');
    }
    let doc: unknown;
    try {
      doc = parseConfigText(configPath, text);
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
    const flat = flattenConfig(doc);
    errors.push(...flat.errors.map((m) => `${where}: ${m}`));
    fileValues = flat.values;
  }

  const config: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  for (const spec of RUN_OPTIONS as readonly OptionSpec[]) {
    // Validate every source that sets the option, not only the winner: a
    // broken file or env value is an error even when a flag overrides it.
    const candidates: Array<[ValueSource, unknown, string]> = [];
    const flag = argv[spec.name];
    if (flag !== undefined) candidates.push(['flag', flag, `--${spec.name}`]);
    const ev = env[envName(spec.name)];
    if (ev !== undefined && ev !== '') candidates.push(['env', ev, envName(spec.name)]);
    const fv = fileValues.get(spec.name);
    if (fv) candidates.push(['file', fv.raw, `config file ${configPath}: "${fv.key}"`]);

    let chosen = false;
    for (const [source, raw, label] of candidates) {
      try {
        const v = parseValue(spec, raw, source === 'env' ? 'env' : source === 'file' ? 'file' : 'flag');
        if (!chosen) {
          config[spec.name] = v;
          sources[spec.name] = source;
          chosen = true;
        }
      } catch (e) {
        errors.push(`${label}: ${(e as Error).message}`);
      }
    }
    if (!chosen) {
      config[spec.name] = spec.default;
      sources[spec.name] = spec.default === undefined ? 'unset' : 'default';
    }
  }

  if (errors.length === 1) throw new UsageError(errors[0], 'Run `droptrace run --help` for every option, its type and its environment variable.');
  if (errors.length > 1) throw new UsageError(`invalid configuration:\n  ${errors.join('\n  ')}`, 'Run `droptrace run --help` for every option, its type and its environment variable.');
  return { config: config as RunConfig, sources, configPath };
}

function nonEmpty(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new UsageError(`--config must be a file path, got ${shown(v)}`);
  return v;
}

/** The schema row of an option (for callers that print help or explain values). */
export function optionSpec(name: string): OptionSpec | undefined {
  return SPEC_BY_NAME.get(name);
}
