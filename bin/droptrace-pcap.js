#!/usr/bin/env node
// `droptrace pcap` under a name tcpdump can run: `tcpdump … -z droptrace-pcap`
// executes it with the finished file as its only argument.
import('../dist/cli/main.js').then((m) => m.main(['pcap', ...process.argv.slice(2)]));
