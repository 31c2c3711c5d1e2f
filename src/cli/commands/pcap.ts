// droptrace pcap FILE|DIR…: TCP loss per connection and direction from
// capture files (and the tcpdump -z analyser). Parses its options
// (src/cli/options.ts; the config file defaults to /etc/droptrace/droptrace.yaml)
// and hands over (src/session/pcap.ts).
import { existsSync } from 'node:fs';
import { command } from '../command.js';
import { PCAP_OPTIONS_ALL } from '../options.js';
import { runPcap, type PcapOptions } from '../../session/pcap.js';

export const DEFAULT_CONFIG = '/etc/droptrace/droptrace.yaml';

export const { builder, handler } = command('pcap', PCAP_OPTIONS_ALL, (o, argv) => runPcap(o as unknown as PcapOptions, (argv._ as unknown[]).map(String)), {
  usage: '$0 FILE|DIR... [options]\n\nTCP loss per connection and direction from pcap/pcapng files (gzip too): retransmissions, fast/spurious retransmissions, out-of-order, lost segments, duplicate ACKs, zero windows, … as flow records.',
  demand: [1, 'Name at least one capture file or directory.'],
  examples: [
    ['$0 dump.pcap', 'summary table of the lossy flows'],
    ['$0 --json dumps/', 'flow records (NDJSON) for every file in dumps/'],
    ['tcpdump -i eth0 -s 128 -W 50 -C 10 -w /var/dumps/dump -Z root -z $(command -v droptrace) tcp', 'tcpdump runs `droptrace pcap FILE` on each rotated file; sinks and pcap-state-dir from /etc/droptrace/droptrace.yaml'],
  ],
  // Without --config or DROPTRACE_CONFIG, the system's config file when there is one (tcpdump -z passes no options).
  input: (argv) => {
    const explicit = argv.config !== undefined || (process.env.DROPTRACE_CONFIG ?? '') !== '';
    return { configPath: explicit ? undefined : existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined };
  },
});
