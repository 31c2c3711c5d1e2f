// Configuration of `droptrace run`: one schema (schema.ts) → flags, env, file.
//
//   builder: (y) => addRunOptions(y)                       // every option + --config, no yargs defaults
//   handler: const cfg = loadConfig({ argv })              // RunConfig; throws UsageError naming key and source
//            cfg.interval (s), cfg['file-max-bytes'] (bytes), cfg['file-max-age'] (s), cfg['filter-port'] (string[] | undefined), …
//   loadConfigWithSources({ argv }) → { config, sources: { interval: 'flag'|'env'|'file'|'default'|'unset', … }, configPath }
//
// Precedence: flags > env (DROPTRACE_<UPPER_SNAKE>, string lists comma-separated) > config file
// (--config or DROPTRACE_CONFIG; YAML or JSON, see config-file.ts for nesting) > schema defaults.
// RunConfig is keyed like argv, so rawFiltersFrom(cfg), durationMs(cfg) and bpftraceFrom(cfg) accept it.
export { RUN_OPTIONS, envName, CONFIG_ENV, type RunConfig, type OptionSpec, type OptionName, type OptionType } from './schema.js';
export { loadConfig, loadConfigWithSources, optionSpec, type LoadConfigInput, type LoadedConfig, type ValueSource } from './load.js';
export { addRunOptions } from './yargs-options.js';
export { NESTED_GROUPS } from './config-file.js';
