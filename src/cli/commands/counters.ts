// droptrace counters: the kernel's loss counters per network namespace as
// rates against their own baselines, storms flagged. Parses its options
// (src/cli/options.ts) and hands over (src/session/counters.ts).
import { command } from '../command.js';
import { COUNTERS_OPTIONS } from '../options.js';
import { runCounters } from '../../session/counters.js';

export const { builder, handler } = command('counters', COUNTERS_OPTIONS, (o) => runCounters(o), {
  examples: [
    ['$0 --filter-netns web1', 'one namespace, live'],
    ['$0 --json --counter PAWS --duration 10', 'PAWS counters as records for 10 s'],
  ],
});
