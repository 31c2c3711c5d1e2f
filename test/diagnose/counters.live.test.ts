// Live: `droptrace counters` reads each namespace's own counters through its
// helper (values equal the kernel's, read independently with ip netns exec),
// flags an injected storm within 3 s, and does not flag an idle namespace.
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { Lab } from '../helpers/netns.js';
import { startDroptrace, sleep, type Running } from '../helpers/droptrace-process.js';
import { background, kernelCounters } from '../helpers/doctor.js';

suite('counters', () => {
  const lab = new Lab();
  let A: string, B: string, idle: string;
  let dt: Running;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.250.7', 'v'));
    idle = lab.ns('I');
    dt = startDroptrace(['counters', '--json', '--interval', '1', '--netns', A, '--netns', B, '--netns', idle], {}, { bpftrace: false });
    await dt.ready(30_000);
  }, 60_000);

  afterAll(async () => {
    await dt?.stop();
    dt?.cleanup();
    lab.cleanup();
  });

  const records = () => dt.json().filter((r) => r.event?.dataset === 'droptrace.counters');

  it('flags a storm (UDP to a closed port: Udp.NoPorts) within 3 s, with the kernel\'s own value', async () => {
    // Let a couple of quiet samples pass so the storm is not in the first rate.
    await sleep(2200);
    const t0 = Date.now();
    const flood = background(A, 'udp-send', '10.250.7.2', 9999, 4000, 50, 47000, 0.001);
    let storm: Record<string, any> | undefined;
    while (!storm && Date.now() - t0 < 3000) {
      storm = records().find((r) => r.droptrace.netns.inode === lab.netnsInode(B) && r.droptrace.counter.name === 'Udp.NoPorts' && r.droptrace.counter.storm && Date.parse(r['@timestamp']) >= t0);
      if (!storm) await sleep(50);
    }
    const seenAfter = Date.now() - t0;
    await flood.done;
    expect(storm, JSON.stringify(records().slice(-5))).toBeDefined();
    expect(seenAfter).toBeLessThan(3000);
    const c = storm!.droptrace.counter;
    expect(c).toMatchObject({ source: 'snmp', netns: lab.netnsInode(B), storm: true, cause: 'no-listener' });
    expect(c.rate).toBeGreaterThanOrEqual(c.floor);
    expect(c.delta).toBeGreaterThan(0);
    expect(c.meaning).toMatch(/no socket/);
    // The helper's view is the namespace's own: equal to the kernel's counter read from inside it.
    const k = kernelCounters(B).get('Udp.NoPorts')!;
    const last = records().filter((r) => r.droptrace.netns.inode === lab.netnsInode(B) && r.droptrace.counter.name === 'Udp.NoPorts').pop()!;
    expect(last.droptrace.counter.value).toBeLessThanOrEqual(k);
    await sleep(1500);
    const settled = records().filter((r) => r.droptrace.netns.inode === lab.netnsInode(B) && r.droptrace.counter.name === 'Udp.NoPorts').pop()!;
    expect(settled.droptrace.counter.value).toBe(kernelCounters(B).get('Udp.NoPorts'));
  });

  it('does not flag the idle namespace (and reports nothing from the others there)', () => {
    const mine = records().filter((r) => r.droptrace.netns.inode === lab.netnsInode(idle));
    expect(mine.filter((r) => r.droptrace.counter.storm)).toEqual([]);
    expect(records().every((r) => [A, B, idle].map((n) => lab.netnsInode(n)).includes(r.droptrace.netns.inode) || r.droptrace.counter.source === 'softnet' || r.droptrace.counter.source === 'neigh')).toBe(true);
  });
});
