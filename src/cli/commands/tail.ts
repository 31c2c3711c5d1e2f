// droptrace tail: live events, one readable line each, or ECS JSON (--json).
// Parses its options (src/cli/options.ts) and hands over (src/session/tail.ts).
import { command } from '../command.js';
import { TAIL_OPTIONS } from '../options.js';
import { runTail } from '../../session/tail.js';

export const { builder, handler } = command('tail', TAIL_OPTIONS, (o) => runTail(o), {
  examples: [
    ['$0 --filter-port 443', 'drops and retransmits on port 443'],
    ['$0 --json --duration 10 > drops.ndjson', 'ten seconds of ECS records'],
  ],
});
