// droptrace pcap FILE|DIR…: TCP loss per connection and direction from
// capture files (and the tcpdump -z analyser). Parses its options
// (src/cli/options.ts; the config file defaults to /etc/droptrace/droptrace.yaml)
// and hands over (src/session/pcap.ts).
import type { Argv } from 'yargs';
import { existsSync } from 'node:fs';
import { addOptions } from '../../config/index.js';
import { loadCommandOptions, PCAP_OPTIONS_ALL } from '../options.js';
import { runPcap, type PcapOptions } from '../../session/pcap.js';
import { warnOnStderr } from '../warn.js';

export const DEFAULT_CONFIG = '/etc/droptrace/droptrace.yaml';

export function builder(y: Argv) {
  return addOptions(y, PCAP_OPTIONS_ALL)
    .usage('$0 FILE|DIR... [options]\n\nTCP loss per connection and direction from pcap/pcapng files (gzip too): retransmissions, fast/spurious retransmissions, out-of-order, lost segments, duplicate ACKs, zero windows, … as flow records.')
    .demandCommand(1, 'Name at least one capture file or directory.')
    .example('$0 dump.pcap', 'summary table of the lossy flows')
    .example('$0 --json dumps/', 'flow records (NDJSON) for every file in dumps/')
    .example('tcpdump -i eth0 -s 128 -W 50 -C 10 -w /var/dumps/dump -Z root -z $(command -v droptrace) tcp', 'tcpdump runs `droptrace pcap FILE` on each rotated file; sinks and pcap-state-dir from /etc/droptrace/droptrace.yaml');
}

export async function handler(argv: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const explicit = argv.config !== undefined || (env.DROPTRACE_CONFIG ?? '') !== '';
  const configPath = explicit ? undefined : existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined;
  const cfg = loadCommandOptions('pcap', PCAP_OPTIONS_ALL, argv, warnOnStderr, { env, configPath }) as unknown as PcapOptions;
  await runPcap(cfg, (argv._ as unknown[]).map(String));
}
