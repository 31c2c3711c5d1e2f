// droptrace doctor: trace, sample counters and read configuration for
// --duration seconds, then print findings ranked by impact — cause, evidence,
// a command to check it, the fix with its caveat, the flows affected. Parses
// its options (src/cli/options.ts) and hands over (src/session/doctor.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { DOCTOR_OPTIONS, loadCommandOptions } from '../options.js';
import { doctorReport } from '../../session/doctor.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addOptions(y, DOCTOR_OPTIONS)
    .example('$0', 'observe 10 s, then explain every loss on this host')
    .example('$0 --filter-netns web1 --duration 30 --json', 'one namespace, findings as records')
    .example('$0 --fail-on high', 'exit 6 if anything high or critical is found');
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await doctorReport(loadCommandOptions('doctor', DOCTOR_OPTIONS, argv, warnOnStderr));
}
