// droptrace top: a live full-screen view of the flows, reasons and kernel
// locations losing the most packets. Keys: f/r/l switch view (flows, reasons,
// locations), v/o/p the roll-ups of floods (destination services, source
// addresses, source prefixes, each with its distinct-flow count), s cycles the
// sort column, q (or Ctrl-C) quits. Parses its options (src/cli/options.ts)
// and hands over (src/session/top.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { loadCommandOptions, TOP_OPTIONS } from '../options.js';
import { runTop } from '../../session/top.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addOptions(y, TOP_OPTIONS).example('$0 --filter-port 443', 'who loses packets on port 443');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await runTop(loadCommandOptions('top', TOP_OPTIONS, argv, warnOnStderr));
}
