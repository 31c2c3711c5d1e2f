// Child of scripts/bench-pcap.mjs: analyse one capture in-process (the same
// Analyser as `droptrace pcap`), print peak RSS and counts as JSON.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const { Analyser } = await import(join(REPO, 'dist/pcap/analyse.js'));
const [file, max] = process.argv.slice(2);
let retx = 0;
const a = new Analyser({ hostName: 'bench', intervalS: 10, maxConnections: Number(max), maxRecords: 10_000, onRecord: (r) => {
  if (r.event.action.includes('retransmit')) retx += r.droptrace.count;
} });
const t0 = process.hrtime.bigint();
const rep = await a.file(file);
if (rep.error) throw rep.error;
console.log(JSON.stringify({ peakMb: process.resourceUsage().maxRSS / 1024, seconds: Number(process.hrtime.bigint() - t0) / 1e9, evicted: a.tracker.stats.evicted, retransmissions: retx }));
