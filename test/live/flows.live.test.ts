// Live: per-flow, per-direction loss records from in-kernel aggregation
// (`droptrace run`), checked against the kernel's own nft rule counters —
// exactly, at the default bounds and past them, with a single flow and with
// tens of thousands of flows per window (the source port moving every packet).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpus } from 'node:os';
import { Lab, runIn, spawnIn } from '../helpers/netns.js';
import { startDroptrace, type Running } from '../helpers/droptrace-process.js';
import { finalStats, expectNoSelfLoss, missedBy } from '../helpers/self-stats.js';

const sum = (rs: any[]) => rs.reduce((n, r) => n + Number(r.droptrace.count ?? 0), 0);
const flowsOf = (rs: any[]) => rs.filter((r) => r.event?.dataset === 'droptrace.flows' && !r.droptrace.flow?.final);
const B_IP = '10.202.1.2';

/** Stop droptrace once the window holding the last drop has been flushed (the rule counter is final by then). */
async function stopAfterFlush(dt: Running): Promise<Array<Record<string, any>>> {
  expect(await dt.stop()).toBe(0);
  return dt.json();
}

describe('flow records (droptrace run, in-kernel aggregation)', () => {
  const lab = new Lab();
  let A: string, B: string, P: string, inoB: string;

  beforeAll(() => {
    A = lab.ns('A');
    B = lab.ns('B');
    lab.link(A, '10.202.1.1/24', `${B}`, `${B_IP}/24`, `${lab.prefix}f`);
    // A bystander namespace, to check the host stays responsive during floods.
    P = lab.ns('P');
    lab.nft(B, `table inet dtest {
      chain c_in { type filter hook input priority 0;
        udp dport 40101 counter drop comment "flood";
        udp dport 40102 counter drop comment "many-flows";
        udp dport 40104 counter drop comment "above-bound";
        udp dport 40105 counter drop comment "tiny-map"; }
    }`);
    inoB = String(lab.netnsInode(B));
  });

  afterAll(() => lab.cleanup());

  /** hping3 --flood for `secs` (in its own process group: nothing keeps flooding after the test). */
  async function flood(port: number, secs: number, keepPort: boolean, baseSport = 10000): Promise<void> {
    const f = spawnIn(A, 'timeout', [String(secs), 'hping3', '--flood', '--udp', '-s', String(baseSport), ...(keepPort ? ['-k'] : []), '-p', String(port), '-d', '8', B_IP]);
    try {
      await f.done;
    } finally {
      f.kill();
    }
  }

  it('UDP flood into an nft drop rule for 3 s: flow counts sum exactly to the rule counter, ingress, host responsive', async () => {
    const dt = startDroptrace(['run', '--json', '--interval', '1', '--filter-netns', inoB]);
    try {
      await dt.ready();
      const f = spawnIn(A, 'timeout', ['3', 'hping3', '--flood', '--udp', '-s', '5000', '-k', '-p', '40101', '-d', '32', B_IP]);
      // Meanwhile the host must keep running programs promptly. (Not a ping
      // through another veth pair: the flood fills the CPU's shared backlog
      // queue, so its packets are lost whether or not droptrace runs.)
      const lat: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        expect((await runIn(P, 'true', [])).code).toBe(0);
        lat.push(Date.now() - t0);
      }
      await f.done;
      f.kill();
      const counter = lab.nftCounter(B, 'dtest', 'flood');
      expect(counter).toBeGreaterThan(50_000);
      const all = await stopAfterFlush(dt);
      const recs = flowsOf(all).filter((r) => r.event.action === 'packet-dropped' && r.destination?.port === 40101);
      expect(recs.length).toBeGreaterThanOrEqual(3);
      const stats = finalStats(all);
      expectNoSelfLoss(stats);
      // Exact: every drop the rule made is in a record; a firing the kernel skipped would be counted.
      expect(counter - sum(recs)).toBe(0);
      expect(missedBy(stats, 'drops')).toBe(0);
      for (const r of recs) {
        expect(r.network.direction).toBe('ingress');
        expect(r.droptrace.path).toBe('local-in');
        expect(r.event.reason).toBe('NETFILTER_DROP');
        expect(r.source).toEqual({ ip: '10.202.1.1', port: 5000 });
        expect(r.droptrace.window.interval_s).toBe(1);
        expect(Date.parse(r.event.end) - Date.parse(r.event.start)).toBeLessThanOrEqual(1000);
      }
      // A 2-core VM under hping3 --flood plus bpftrace: spawning a process
      // takes ~50-1300 ms here. A host hung by the tracer would not answer at all.
      expect(Math.max(...lat)).toBeLessThan(3000);
    } finally {
      dt.cleanup();
    }
  });

  it('≥ 20,000 distinct flows per window at the default bounds: exactly --max-flows keyed per full window, the rest in overflow records naming the service, totals = nft counter', async () => {
    // The collector keeps every keyed flow (its own bound above the kernel's), so the kernel's keyed count is visible.
    const dt = startDroptrace(['run', '--json', '--interval', '1', '--collector-max-flows', '30000', '--filter-netns', inoB, '--filter-port', '40102']);
    try {
      const ready = await dt.ready();
      expect(ready.signals.length).toBeGreaterThan(0);
      await flood(40102, 3, false);
      const counter = lab.nftCounter(B, 'dtest', 'many-flows');
      const all = await stopAfterFlush(dt);
      const stats = finalStats(all);
      expectNoSelfLoss(stats);
      const recs = flowsOf(all).filter((r) => r.event.action === 'packet-dropped' && r.event.reason === 'NETFILTER_DROP');
      const overflow = recs.filter((r) => r.droptrace.overflow);
      const perFlow = recs.filter((r) => !r.droptrace.overflow);
      // Exact, overflow included (the kernel's overflow map and its keyless total agree).
      expect(sum(recs)).toBe(counter);
      expect(missedBy(stats, 'drops')).toBe(0);
      // Per window: flows keyed in the kernel, and packets that went to its overflow map.
      const keyed = new Map<string, number>();
      for (const r of perFlow) keyed.set(r.event.start, (keyed.get(r.event.start) ?? 0) + 1);
      const overflowed = new Map<string, number>();
      for (const r of overflow) overflowed.set(r.event.start, (overflowed.get(r.event.start) ?? 0) + r.droptrace.overflow.kernel_count);
      // A full window: one whose kernel map overflowed. It keyed --max-flows (16,384, the default)
      // flows; CPUs racing on the unlocked per-window key count can each add one more.
      const full = [...overflowed].filter(([, n]) => n > 0).map(([w]) => w);
      expect(full.length).toBeGreaterThanOrEqual(1);
      for (const w of full) {
        expect(keyed.get(w), `keyed flows in window ${w}`).toBeGreaterThanOrEqual(16_384);
        expect(keyed.get(w)).toBeLessThanOrEqual(16_384 + cpus().length - 1);
      }
      // ≥ 20,000 distinct flows in the busiest window: hping3 moves the source port every packet through
      // 55,536 ports (10000-65535), so a window of N ≥ 20,000 packets holds min(N, 55,536) ≥ 20,000 flows.
      expect(Math.max(...full.map((w) => keyed.get(w)! + overflowed.get(w)!))).toBeGreaterThanOrEqual(20_000);
      // The overflow records still name their target: one service, no source side.
      for (const r of overflow) {
        expect(r.source).toBeUndefined();
        expect(r.destination).toEqual({ ip: B_IP, port: 40102 });
        expect(r.network).toMatchObject({ transport: 'udp', direction: 'ingress' });
        expect(r.droptrace.netns.inode).toBe(Number(inoB));
        expect(r.droptrace.drop.location.symbol).toBe('nft_do_chain');
      }
      // The kernel maps were sized for the bound: their size and memory are reported.
      expect(stats.kernel_maps.max_entries).toBeGreaterThanOrEqual(16_384);
      expect(stats.kernel_maps.memlock_bytes).toBeGreaterThan(0);
    } finally {
      dt.cleanup();
    }
  });

  it('--max-flows above the number of flows: every flow keyed, no kernel overflow, totals exact', async () => {
    // Source ports 30000-65535 at most: 35,536 distinct flows, below the bound.
    const dt = startDroptrace(['run', '--json', '--interval', '1', '--max-flows', '40000', '--collector-max-flows', '50000', '--filter-netns', inoB, '--filter-port', '40104']);
    try {
      await dt.ready();
      await flood(40104, 2, false, 30000);
      const counter = lab.nftCounter(B, 'dtest', 'above-bound');
      expect(counter).toBeGreaterThan(10_000);
      const all = await stopAfterFlush(dt);
      const stats = finalStats(all);
      expectNoSelfLoss(stats);
      const recs = flowsOf(all).filter((r) => r.event.action === 'packet-dropped' && r.destination?.port === 40104);
      expect(recs.filter((r) => r.droptrace.overflow)).toEqual([]);
      expect(sum(recs)).toBe(counter);
      for (const r of recs) expect(r.source.port).toBeGreaterThanOrEqual(30000);
    } finally {
      dt.cleanup();
    }
  });

  it('a kernel map deliberately too small (--kernel-map-keys): the inserts it refuses are counted as unattributed, and the shortfall equals them exactly', async () => {
    const dt = startDroptrace(['run', '--json', '--interval', '1', '--kernel-map-keys', '1500', '--filter-netns', inoB, '--filter-port', '40105']);
    try {
      await dt.ready();
      await flood(40105, 2, false);
      const counter = lab.nftCounter(B, 'dtest', 'tiny-map');
      const all = await stopAfterFlush(dt);
      const stats = finalStats(all);
      const recs = flowsOf(all).filter((r) => r.event.action === 'packet-dropped');
      const unattributed = recs.filter((r) => r.event.reason === 'unattributed');
      const attributed = recs.filter((r) => r.event.reason === 'NETFILTER_DROP');
      const shortfall = counter - sum(attributed);
      expect(shortfall).toBeGreaterThan(0);
      expect(sum(unattributed)).toBe(shortfall);
      expect(stats.unattributed).toBe(shortfall);
      expect(sum(recs)).toBe(counter);
      expectNoSelfLoss(stats, { unattributed: shortfall });
      // …and it is said, not only counted.
      expect(dt.stderr.join('\n')).toMatch(/could not be keyed in a full kernel map/);
    } finally {
      dt.cleanup();
    }
  });
});
