// Child of scripts/bench (rss): one synthetic window of N distinct drop flows
// streamed through the flow aggregator; prints peak RSS as JSON.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const { FlowAggregator } = await import(join(REPO, 'dist/aggregate/flow-records.js'));
const { Enricher } = await import(join(REPO, 'dist/enrich/enricher.js'));
const { KallsymsSymbolizer } = await import(join(REPO, 'dist/enrich/kallsyms.js'));
const { loadReasons } = await import(join(REPO, 'dist/enrich/reasons.js'));
const { MonotonicToWall } = await import(join(REPO, 'dist/platform/clock.js'));
const { loadCatalog } = await import(join(REPO, 'dist/source/catalog.js'));

const [n, keep] = process.argv.slice(2).map(Number);
const enricher = new Enricher({ symbols: KallsymsSymbolizer.fromFile('/proc/kallsyms'), reasons: loadReasons(), hostName: 'bench' });
globalThis.gc?.();
const baseMb = process.memoryUsage().rss / 2 ** 20;
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const agg = new FlowAggregator({ enricher, clock: new MonotonicToWall(), wire: loadCatalog().wire, hostName: 'bench', intervalNs: 10_000_000_000n, phaseNs: 0n, startNs: 0n, maxFlows: keep, idleTimeoutMs: 60_000 });
const t0 = process.hrtime.bigint();
agg.begin(5, 60_000_000_000, false);
let expected = 0;
// Packed like probes/drops: netns, ifindex<<32|iif, dst_in, loc, l3<<48|l4<<40|reason, ports, src words, dst words.
for (let i = 0; i < n; i++) {
  const count = 1 + (i % 97);
  expected += count;
  const src = BigInt(0x0a000000 + i) ; // distinct source per flow
  agg.add({ map: 'd', keys: [4026531840n, (2n << 32n) | 2n, 0xffffffff81ff6530n, 0xffffffff81f63638n, (4n << 48n) | (17n << 40n) | 12n, (5000n << 16n) | 53n, src, 0n, 0n, 0n, 0x0200000an, 0n, 0n, 0n], count, total: count * 60 });
  if (i % 50_000 === 0) sample();
}
const recs = agg.end();
sample();
const sum = recs.reduce((s, r) => s + (r.droptrace.count ?? 0), 0);
console.log(JSON.stringify({ baseMb, peakMb: peak / 2 ** 20, seconds: Number(process.hrtime.bigint() - t0) / 1e9, records: recs.length, exact: sum === expected }));
