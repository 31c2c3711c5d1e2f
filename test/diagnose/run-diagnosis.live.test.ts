// Live: `droptrace run` emits, next to its flow records, counter records and
// findings each window; NETFILTER_DROP flow records carry the rule (ECS
// rule.*); counter baselines land in the state directory, where `doctor`
// finds them.
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND } from '../helpers/netns.js';
import { startDroptrace, sleep, type Running } from '../helpers/droptrace-process.js';
import { kernelCounters, counterDelta } from '../helpers/doctor.js';

suite('run: counters, findings and rule attribution per window', () => {
  const lab = new Lab();
  let A: string, B: string;
  let dt: Running;
  let state: string;
  let recs: Array<Record<string, any>>;
  let noPorts = 0;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.251.0', 'v', 'udp dport 45000 counter drop comment "run-drop"'));
    state = mkdtempSync(join(tmpdir(), 'droptrace-state-'));
    dt = startDroptrace(['run', '--json', '--interval', '1', '--filter-netns', String(lab.netnsInode(A)), '--filter-netns', String(lab.netnsInode(B)), '--state-dir', join(state, 'st')]);
    // Ready = probes attached and the first counter sample taken.
    await dt.ready(60_000);
    const before = kernelCounters(B);
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.251.0.2', '45000', '300', '45500']);
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.251.0.2', '45009', '40', '45501']);
    noPorts = counterDelta(before, kernelCounters(B), 'Udp.NoPorts');
    // Two more windows close after the traffic.
    await sleep(2500);
    await dt.stop();
    recs = dt.json();
  }, 120_000);

  afterAll(() => {
    dt?.cleanup();
    lab.cleanup();
    rmSync(state, { recursive: true, force: true });
  });

  it('NETFILTER_DROP flow records carry the rule; their counts sum to the rule counter', () => {
    const flows = recs.filter((r) => r.event.dataset === 'droptrace.flows' && r.event.reason === 'NETFILTER_DROP' && !r.droptrace.flow?.final);
    expect(flows.length).toBeGreaterThan(0);
    for (const f of flows) expect(f.rule).toMatchObject({ ruleset: 'inet/dtest', category: 'c_in', name: 'run-drop' });
    expect(flows.reduce((s, f) => s + f.droptrace.count, 0)).toBe(lab.nftCounter(B, 'dtest', 'run-drop'));
  });

  it('findings: one firewall-rule finding per window with drops, deduplicated ids, counts summing to the rule counter', () => {
    const fs = recs.filter((r) => r.event.dataset === 'droptrace.findings' && r.droptrace.finding.cause === 'firewall-rule');
    expect(fs.length).toBeGreaterThan(0);
    const windows = new Set(fs.map((f) => f.event.end));
    expect(windows.size).toBe(fs.length);
    expect(new Set(fs.map((f) => f.droptrace.id)).size).toBe(fs.length);
    for (const f of fs) expect(f.rule).toMatchObject({ name: 'run-drop', category: 'c_in' });
    expect(fs.reduce((s, f) => s + f.droptrace.finding.lost, 0)).toBe(lab.nftCounter(B, 'dtest', 'run-drop'));
    expect(fs[0].destination).toEqual({ ip: '10.251.0.2', port: 45000 });
  });

  it('counter records for the counters that moved (their deltas sum to the kernel\'s), and baselines saved for doctor (0600 in a 0700 directory)', () => {
    const cs = recs.filter((r) => r.event.dataset === 'droptrace.counters');
    const mine = cs.filter((r) => r.droptrace.netns.inode === lab.netnsInode(B) && r.droptrace.counter.name === 'Udp.NoPorts');
    expect(noPorts).toBe(40);
    expect(mine.reduce((s, r) => s + r.droptrace.counter.delta, 0)).toBe(noPorts);
    for (const c of cs) expect(c.droptrace.counter.delta > 0 || c.droptrace.counter.storm).toBe(true);
    for (const c of cs) expect(typeof c.droptrace.counter.meaning).toBe('string');
    expect(recs.some((r) => r.event.dataset === 'droptrace.findings' && r.droptrace.finding.cause === 'no-listener' && r.destination?.port === 45009)).toBe(true);
    const file = join(state, 'st', 'counter-baselines.json');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(state, 'st')).mode & 0o777).toBe(0o700);
    const j = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(j.entries).some((k) => k.startsWith(`name:${B}|`))).toBe(true);
  });
});
