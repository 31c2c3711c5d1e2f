// Declare every run option on yargs from the schema. No yargs defaults, so
// loadConfig can tell "flag given" from "not given" (defaults come from the
// schema, after env and file). Non-boolean values stay strings here and are
// parsed by the schema (so "64MiB" and "5m" work, and bad input is reported
// with the same wording whatever its source).
import type { Argv, Options } from 'yargs';
import { CONFIG_ENV, RUN_OPTIONS, envName, type OptionSpec } from './schema.js';

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
  return bits.join(' ');
}

/** `include` picks the options a command takes (default: all but the capture-analysis ones, which only `pcap` takes). */
export function addRunOptions<T>(y: Argv<T>, include: (spec: OptionSpec) => boolean = (s) => s.group !== 'Pcap'): Argv<T> {
  for (const spec of RUN_OPTIONS as readonly OptionSpec[]) {
    if (!include(spec)) continue;
    const o: Options = { describe: describe(spec), group: `${spec.group}:` };
    if (spec.type === 'boolean') o.type = 'boolean';
    else {
      o.type = 'string';
      o.requiresArg = true;
      if (spec.type === 'string[]') o.array = true;
    }
    y = y.option(spec.name, o) as Argv<T>;
  }
  return y.option('config', {
    type: 'string',
    requiresArg: true,
    describe: `YAML or JSON file of run options (kebab-case keys; precedence: flags > env > file > defaults). Env: ${CONFIG_ENV}`,
  }) as Argv<T>;
}
