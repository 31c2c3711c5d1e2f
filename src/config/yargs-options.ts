// Declare a command's options on yargs from their rows. No yargs defaults, so
// loadOptions can tell "flag given" from "not given" (defaults come from the
// rows, after env and file). Non-boolean values stay strings here and are
// parsed by the rows (so "64MiB" and "5m" work, and bad input is reported
// with the same wording whatever its source). An option's older names are
// declared hidden (strict parsing still accepts them; the loader warns).
import type { Argv, Options } from 'yargs';
import { CONFIG_ENV, envName, type OptionSpec } from './schema.js';

const UNIT_HINT: Partial<Record<OptionSpec['type'], string>> = {
  duration: 'seconds, or 500ms/30s/5m/1h',
  bytes: 'bytes, or 64MiB/100MB',
};

function describe(spec: OptionSpec): string {
  const bits = [spec.describe];
  const unit = UNIT_HINT[spec.type];
  if (unit) bits.push(`(${unit})`);
  if (spec.default !== undefined) bits.push(`[default: ${JSON.stringify(spec.default)}]`);
  bits.push(`Env: ${envName(spec.name)}${spec.type === 'string[]' ? ' (comma-separated)' : ''}`);
  if (spec.aliases?.length) bits.push(`(formerly ${spec.aliases.map((a) => `--${a}`).join(', ')})`);
  if (spec.deprecated) bits.push(`Deprecated: ${spec.deprecated}.`);
  return bits.join(' ');
}

function yargsOption(spec: OptionSpec): Options {
  const o: Options = { describe: describe(spec), group: `${spec.group.title}:` };
  if (spec.type === 'boolean') o.type = 'boolean';
  else {
    o.type = 'string';
    o.requiresArg = true;
    if (spec.type === 'string[]') o.array = true;
  }
  return o;
}

/** Every option in `specs` (and --config unless `config` is false). */
export function addOptions<T>(y: Argv<T>, specs: readonly OptionSpec[], o: { config?: boolean } = {}): Argv<T> {
  for (const spec of specs) {
    y = y.option(spec.name, yargsOption(spec)) as Argv<T>;
    for (const a of spec.aliases ?? []) y = y.option(a, { ...yargsOption(spec), hidden: true }) as Argv<T>;
  }
  if (o.config === false) return y;
  return y.option('config', {
    type: 'string',
    requiresArg: true,
    describe: `YAML or JSON file of options (kebab-case keys; precedence: flags > env > file > defaults). Env: ${CONFIG_ENV}`,
  }) as Argv<T>;
}
