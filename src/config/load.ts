// loadOptions: flags > environment (DROPTRACE_*) > config file > defaults,
// for a command's option rows (./schema.ts), every value validated by its
// row. All problems are reported at once, each naming the key and where it
// came from. An option's older name (its aliases) or a deprecated option is
// still read, and said (`warnings`).
import { UsageError } from '../errors.js';
import { CONFIG_ENV, envName, type ConfigOf, type OptionSpec } from './schema.js';
import { parseValue, shown } from './parse-value.js';
import { defaultReadFile, flattenConfig, parseConfigText, type ReadFile } from './config-file.js';
import { ConfigFileError } from './file-limits.js';

export type ValueSource = 'flag' | 'env' | 'file' | 'default' | 'unset';

export interface LoadConfigInput {
  /** Parsed yargs argv (kebab-case keys); only the options' names, aliases and `config` are read. */
  argv?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Config file; default: argv.config, then env DROPTRACE_CONFIG. */
  configPath?: string;
  readFile?: ReadFile;
  /** Every option of every command: a file key of another command is no error (default: this command's). */
  fileOptions?: readonly OptionSpec[];
  /** The command, for the hint of an error (`droptrace <command> --help`). */
  command?: string;
}

export interface LoadedConfig<C> {
  config: C;
  /** Where each option's value came from (for a startup log line or `--explain`). */
  sources: Record<string, ValueSource>;
  configPath?: string;
  /** Older names and deprecated options used, and what to use instead. */
  warnings: string[];
}

export function loadOptions<S extends readonly OptionSpec[]>(specs: S, input: LoadConfigInput = {}): LoadedConfig<ConfigOf<S>> {
  const argv = input.argv ?? {};
  const env = input.env ?? process.env;
  const errors: string[] = [];
  const warnings: string[] = [];
  const hint = `Run \`droptrace ${input.command ?? 'run'} --help\` for every option, its type and its environment variable.`;

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
      throw new UsageError(e instanceof ConfigFileError ? `config file ${why}` : why, 'A config file is a YAML or JSON mapping of options (see `droptrace run --help`).');
    }
    let doc: unknown;
    try {
      doc = parseConfigText(configPath, text);
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
    const flat = flattenConfig(doc, input.fileOptions ?? specs);
    errors.push(...flat.errors.map((m) => `${where}: ${m}`));
    fileValues = flat.values;
  }

  const config: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  for (const spec of specs) {
    // Validate every source that sets the option, not only the winner: a
    // broken file or env value is an error even when a flag overrides it.
    // Its own name first, then its older names, each source in turn.
    const candidates: Array<[ValueSource, unknown, string, string]> = [];
    const names = [spec.name, ...(spec.aliases ?? [])];
    for (const n of names) {
      const flag = argv[n];
      if (flag !== undefined) candidates.push(['flag', flag, `--${n}`, n]);
    }
    for (const n of names) {
      const ev = env[envName(n)];
      if (ev !== undefined && ev !== '') candidates.push(['env', ev, envName(n), n]);
    }
    const inFile = names.filter((n) => fileValues.has(n));
    if (inFile.length > 1) errors.push(`config file ${configPath}: "${fileValues.get(inFile[1])!.key}" sets ${spec.name} again (already set by "${fileValues.get(inFile[0])!.key}")`);
    for (const n of inFile.slice(0, 1)) {
      const fv = fileValues.get(n)!;
      candidates.push(['file', fv.raw, `config file ${configPath}: "${fv.key}"`, n]);
    }

    let chosen = false;
    for (const [source, raw, label, n] of candidates) {
      try {
        const v = parseValue(spec, raw, source === 'env' ? 'env' : source === 'file' ? 'file' : 'flag');
        if (n !== spec.name) warnings.push(`${label} is deprecated (an older name); use ${source === 'flag' ? `--${spec.name}` : source === 'env' ? envName(spec.name) : spec.name} instead`);
        else if (spec.deprecated) warnings.push(`${label} is deprecated: ${spec.deprecated}`);
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

  if (errors.length === 1) throw new UsageError(errors[0], hint);
  if (errors.length > 1) throw new UsageError(`invalid configuration:\n  ${errors.join('\n  ')}`, hint);
  return { config: config as ConfigOf<S>, sources, configPath, warnings };
}

function nonEmpty(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new UsageError(`--config must be a file path, got ${shown(v)}`);
  return v;
}
