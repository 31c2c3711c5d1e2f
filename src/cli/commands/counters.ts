// droptrace counters: the kernel's loss counters per network namespace as
// rates against their own baselines, storms flagged. Parses its options
// (src/cli/options.ts) and hands over (src/session/counters.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { COUNTERS_OPTIONS, loadCommandOptions } from '../options.js';
import { runCounters } from '../../session/counters.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addOptions(y, COUNTERS_OPTIONS)
    .example('$0 --filter-netns web1', 'one namespace, live')
    .example('$0 --json --counter PAWS --duration 10', 'PAWS counters as records for 10 s');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await runCounters(loadCommandOptions('counters', COUNTERS_OPTIONS, argv, warnOnStderr));
}
