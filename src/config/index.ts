// The option system (one for every command): option rows (schema.ts) → flags,
// env and file; the shared rows (options.ts); loading with precedence
// (load.ts); the yargs side (yargs-options.ts). A command composes its rows
// in src/cli/options.ts.
//
//   builder: (y) => addOptions(y, TAIL_OPTIONS)                  // every option + --config, no yargs defaults
//   handler: const { config, warnings } = loadOptions(TAIL_OPTIONS, { argv })
//            config['rate-limit'] (number), config['filter-port'] (string[] | undefined), …
//
// Precedence: flags > env (DROPTRACE_<UPPER_SNAKE>, string lists comma-separated) > config file
// (--config or DROPTRACE_CONFIG; YAML or JSON, see config-file.ts for nesting) > defaults.
export { envName, CONFIG_ENV, ENV_PREFIX, REFUSED_SECRET_KEYS, type ConfigOf, type OptionSpec, type OptionType, type OptionGroup } from './schema.js';
export { loadOptions, type LoadConfigInput, type LoadedConfig, type ValueSource } from './load.js';
export { addOptions } from './yargs-options.js';
