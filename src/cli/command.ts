// A command is its option rows (./options.ts) and the session function it
// hands over to: `command()` makes the yargs builder (every option, --config,
// help with env names and examples) and the handler (options loaded flags >
// env > file > defaults, older names warned about on stderr, then handed over).
//
//   export const { builder, handler } = command('tail', TAIL_OPTIONS, (o) => runTail(o), { examples: [['$0 --json', 'ECS records']] });
import type { Argv } from 'yargs';
import { addOptions, type ConfigOf, type LoadConfigInput, type OptionSpec } from '../config/index.js';
import { loadCommandOptions } from './options.js';
import { warnOnStderr } from './warn.js';

export interface CommandModule {
  builder(y: Argv): Argv;
  handler(argv: Record<string, unknown>): Promise<void>;
}

export interface CommandShape {
  /** Usage line and text, when more than `$0 [options]`. */
  usage?: string;
  /** Positional arguments required, with the message when missing. */
  demand?: [number, string];
  examples?: ReadonlyArray<readonly [string, string]>;
  /** Where the options are read from, beyond argv and the environment (e.g. a default config file). */
  input?: (argv: Record<string, unknown>) => Partial<LoadConfigInput>;
}

export function command<S extends readonly OptionSpec[]>(
  name: string,
  specs: S,
  start: (options: ConfigOf<S>, argv: Record<string, unknown>) => Promise<void>,
  shape: CommandShape = {},
): CommandModule {
  return {
    builder(y) {
      let out = addOptions(y, specs);
      if (shape.usage) out = out.usage(shape.usage);
      if (shape.demand) out = out.demandCommand(...shape.demand);
      for (const [cmd, what] of shape.examples ?? []) out = out.example(cmd, what);
      return out;
    },
    async handler(argv) {
      await start(loadCommandOptions(name, specs, argv, warnOnStderr, shape.input?.(argv)), argv);
    },
  };
}
