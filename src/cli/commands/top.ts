// droptrace top: a live full-screen view of the flows, reasons and kernel
// locations losing the most packets. Keys: f/r/l switch view (flows, reasons,
// locations), v/o/p the roll-ups of floods (destination services, source
// addresses, source prefixes, each with its distinct-flow count), s cycles the
// sort column, q (or Ctrl-C) quits. Parses its options (src/cli/options.ts)
// and hands over (src/session/top.ts).
import { command } from '../command.js';
import { TOP_OPTIONS } from '../options.js';
import { runTop } from '../../session/top.js';

export const { builder, handler } = command('top', TOP_OPTIONS, (o) => runTop(o), {
  examples: [['$0 --filter-port 443', 'who loses packets on port 443']],
});
