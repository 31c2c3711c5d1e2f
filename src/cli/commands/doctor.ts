// droptrace doctor: trace, sample counters and read configuration for
// --duration seconds, then print findings ranked by impact — cause, evidence,
// a command to check it, the fix with its caveat, the flows affected. Parses
// its options (src/cli/options.ts) and hands over (src/session/doctor.ts).
import { command } from '../command.js';
import { DOCTOR_OPTIONS } from '../options.js';
import { doctorReport } from '../../session/doctor.js';

export const { builder, handler } = command('doctor', DOCTOR_OPTIONS, (o) => doctorReport(o), {
  examples: [
    ['$0', 'observe 10 s, then explain every loss on this host'],
    ['$0 --filter-netns web1 --duration 30 --json', 'one namespace, findings as records'],
    ['$0 --fail-on high', 'exit 6 if anything high or critical is found'],
  ],
});
