// The option system every command uses: each option is one row (OptionSpec)
// from which its CLI flag, its DROPTRACE_* environment variable and its
// config file key are all derived, so the three can never disagree. Names are
// kebab-case as on the CLI. A command takes a list of rows (src/cli/options.ts
// composes them: shared ones from ./options.ts, each sink's from its
// src/sinks/<sink>/options.ts); precedence is flags > env > config file >
// defaults for every command (./load.ts).
//
// Types and what each accepts (flags, env and file alike):
//   number / int  a number, or a numeric string
//   boolean       true/false (env and strings also: 1/0, yes/no, on/off)
//   string        a string (a number in a config file is taken as its text)
//   string[]      repeat the flag; env: comma-separated; file: a list or one string
//   duration      seconds: 10, 1.5, or with a unit "500ms", "30s", "5m", "1h", "1d"
//   bytes         bytes: 67108864, or "64MiB", "100MB", "1.5GiB" (KiB=1024, kB=1000)
// The parsed value of a duration is in seconds, of bytes in bytes.

export type OptionType = 'number' | 'int' | 'boolean' | 'string' | 'string[]' | 'duration' | 'bytes';

/** Where an option shows in --help, and how a config file may nest it. */
export interface OptionGroup {
  readonly title: string;
  /**
   * Config file keys under which this group's options may be nested, with
   * the prefix they imply: `elasticsearch: { url: … }` is es-url.
   */
  readonly nest?: { readonly keys: readonly string[]; readonly prefix: string };
}

export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  readonly default?: number | boolean | string;
  /** Inclusive bounds for numeric types (duration in seconds, bytes in bytes). */
  readonly min?: number;
  readonly max?: number;
  /** Durations only: whole seconds. */
  readonly integer?: boolean;
  /** Strings only: one of these. */
  readonly choices?: readonly string[];
  /** Extra validation of a parsed string: returns the normalized value or throws Error(reason). */
  readonly check?: (v: string) => string;
  readonly describe: string;
  readonly group: OptionGroup;
  /** The value names a file (checked for sanity only; opened by whoever uses it). */
  readonly path?: boolean;
  /** The value names a file holding a secret. Secrets themselves are never accepted as values. */
  readonly secretFile?: boolean;
  /** Older names of this option (flag, env and file key alike): still read, with a warning. */
  readonly aliases?: readonly string[];
  /** Still read, with this warning (what to use instead). */
  readonly deprecated?: string;
}

export const ENV_PREFIX = 'DROPTRACE_';
export const CONFIG_ENV = 'DROPTRACE_CONFIG';

export function envName(option: string): string {
  return ENV_PREFIX + option.toUpperCase().replace(/-/g, '_');
}

type ValueOf<T extends OptionType> = T extends 'boolean' ? boolean : T extends 'string' ? string : T extends 'string[]' ? string[] : number;

/** The validated options of a command, keyed like argv (so rawFiltersFrom/durationMs/… accept it). */
export type ConfigOf<S extends readonly OptionSpec[]> = {
  readonly [R in S[number] as R['name']]: R extends { default: unknown } ? ValueOf<R['type']> : ValueOf<R['type']> | undefined;
};

/**
 * Secrets never go in argv (world-readable), env-named options or the config
 * file as values: these keys are refused with a pointer to the -file option.
 */
export const REFUSED_SECRET_KEYS: Readonly<Record<string, string>> = {
  'es-password': 'put the password in a file named by es-password-file, or in env DROPTRACE_ES_PASSWORD',
  'es-api-key': 'put the API key in a file named by es-api-key-file, or in env DROPTRACE_ES_API_KEY',
};
