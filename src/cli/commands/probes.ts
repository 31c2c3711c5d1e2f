// droptrace probes: what this kernel and bpftrace allow, per signal. Parses
// its options (src/cli/options.ts) and hands over (src/session/probes.ts).
import { command } from '../command.js';
import { PROBES_OPTIONS } from '../options.js';
import { probesReport } from '../../session/probes.js';

export const { builder, handler } = command('probes', PROBES_OPTIONS, (o) => probesReport(o));
