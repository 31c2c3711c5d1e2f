// droptrace probes: what this kernel and bpftrace allow, per signal. Parses
// its options (src/cli/options.ts) and hands over (src/session/probes.ts).
import type { Argv } from 'yargs';
import { addOptions } from '../../config/index.js';
import { loadCommandOptions, PROBES_OPTIONS } from '../options.js';
import { probesReport } from '../../session/probes.js';
import { warnOnStderr } from '../warn.js';

export function builder(y: Argv) {
  return addOptions(y, PROBES_OPTIONS);
}

export async function handler(argv: Record<string, unknown>): Promise<void> {
  await probesReport(loadCommandOptions('probes', PROBES_OPTIONS, argv, warnOnStderr));
}
