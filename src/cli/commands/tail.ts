// droptrace tail: live events, one readable line each, or ECS JSON (--json).
// Parses its options (src/cli/options.ts) and hands over (src/session/tail.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { loadCommandOptions, TAIL_OPTIONS } from '../options.js';
import { runTail } from '../../session/tail.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addOptions(y, TAIL_OPTIONS)
    .example('$0 --filter-port 443', 'drops and retransmits on port 443')
    .example('$0 --json --duration 10 > drops.ndjson', 'ten seconds of ECS records');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await runTail(loadCommandOptions('tail', TAIL_OPTIONS, argv, warnOnStderr));
}
