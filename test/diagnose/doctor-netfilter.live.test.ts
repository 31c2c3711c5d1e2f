// Live: `droptrace doctor` names the netfilter rule behind NETFILTER_DROP
// (input, output and forward chains), tells a full conntrack table from a
// rule, attributes among 10,000 rules, and degrades to a finding that says
// what it could not check when tools are missing. Faults are real, in
// namespaces built here; every count is checked against the kernel's own.
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND, sh } from '../helpers/netns.js';
import { doctor, findingsOf, describe, evidence, fault, server, background, type DoctorRun } from '../helpers/doctor.js';

function nftHandle(lab: Lab, ns: string, comment: string): string {
  const j = JSON.parse(lab.exec(ns, 'nft', ['-j', 'list', 'ruleset'])) as { nftables: Array<Record<string, any>> };
  const r = j.nftables.find((x) => x.rule?.comment === comment);
  if (!r) throw new Error(`no rule ${comment}`);
  return String(r.rule.handle);
}

suite('doctor: firewall rules on the input, output and forward chains', () => {
  const lab = new Lab();
  let A: string, B: string, A2: string, R: string, C: string;
  let run: DoctorRun;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.241.0', 'v', 'udp dport 41000 counter drop comment "in-drop"'));
    lab.nft(A, 'table inet dtest {\n  chain c_out {\n    type filter hook output priority 0;\n    udp dport 41001 counter drop comment "out-drop"\n  }\n}\n');
    A2 = lab.ns('A2');
    R = lab.ns('R');
    C = lab.ns('C');
    lab.link(A2, '10.241.2.1/24', R, '10.241.2.254/24', `${lab.prefix}r`);
    lab.link(R, '10.241.3.254/24', C, '10.241.3.2/24', `${lab.prefix}s`);
    lab.exec(A2, 'ip', ['route', 'add', 'default', 'via', '10.241.2.254']);
    lab.exec(C, 'ip', ['route', 'add', 'default', 'via', '10.241.3.254']);
    lab.exec(R, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    lab.nft(R, 'table inet dtest {\n  chain c_fwd {\n    type filter hook forward priority 0;\n    udp dport 41002 counter drop comment "fwd-drop"\n    udp dport 41003 counter accept comment "fwd-allow"\n  }\n}\n');
    // Nothing here is critical: --fail-on critical still exits 0.
    run = await doctor(['--duration', '3', '--fail-on', 'critical', ...[A, B, A2, R, C].flatMap((n) => ['--filter-netns', n])], () => {
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.241.0.2', '41000', '120', '42000']);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.241.0.2', '41001', '80', '42001']);
      lab.exec(A2, 'python3', ['-c', PY_UDP_SEND, '10.241.3.2', '41002', '60', '42002']);
    });
  }, 180_000);

  afterAll(() => lab.cleanup());

  it('ran and exited 0', () => {
    expect(run.code, describe(run)).toBe(0);
  });

  it('input chain: the rule is named, with the flow, direction and its counter delta', () => {
    const fs = findingsOf(run, 'firewall-rule', lab.netnsInode(B));
    expect(fs, describe(run)).toHaveLength(1);
    const f = fs[0];
    const kernel = lab.nftCounter(B, 'dtest', 'in-drop');
    expect(kernel).toBe(120);
    expect(f.rule).toEqual({ ruleset: 'inet/dtest', category: 'c_in', id: nftHandle(lab, B, 'in-drop'), name: 'in-drop', description: 'udp dport 41000 counter drop comment "in-drop"' });
    expect(f.source).toEqual({ ip: '10.241.0.1', port: 42000 });
    expect(f.destination).toEqual({ ip: '10.241.0.2', port: 41000 });
    expect(f.network).toMatchObject({ transport: 'udp', direction: 'ingress' });
    expect(f.droptrace.path).toBe('local-in');
    expect(f.droptrace.finding.confidence).toBe('high');
    expect(evidence(f, 'rule', 'inet dtest c_in handle')!.delta).toBe(kernel);
    expect(evidence(f, 'drops', 'NETFILTER_DROP')!.value).toBe(kernel);
    expect(f.droptrace.finding.lost).toBe(kernel);
    expect(f.event).toMatchObject({ kind: 'alert', action: 'diagnosis', dataset: 'droptrace.findings', reason: 'NETFILTER_DROP' });
  });

  it('output chain: egress/local-out in the sender, rule named', () => {
    const fs = findingsOf(run, 'firewall-rule', lab.netnsInode(A));
    expect(fs, describe(run)).toHaveLength(1);
    const f = fs[0];
    const kernel = lab.nftCounter(A, 'dtest', 'out-drop');
    expect(kernel).toBe(80);
    expect(f.rule).toMatchObject({ category: 'c_out', name: 'out-drop', id: nftHandle(lab, A, 'out-drop') });
    expect(f.destination).toEqual({ ip: '10.241.0.2', port: 41001 });
    expect(f.network.direction).toBe('egress');
    expect(f.droptrace.path).toBe('local-out');
    expect(evidence(f, 'rule', 'inet dtest c_out')!.delta).toBe(kernel);
  });

  it('forward chain: ingress/forward in the router, rule named (the accept rule next to it is not blamed)', () => {
    const fs = findingsOf(run, 'firewall-rule', lab.netnsInode(R));
    expect(fs, describe(run)).toHaveLength(1);
    const f = fs[0];
    const kernel = lab.nftCounter(R, 'dtest', 'fwd-drop');
    expect(kernel).toBe(60);
    expect(f.rule).toMatchObject({ category: 'c_fwd', name: 'fwd-drop' });
    expect(f.source).toEqual({ ip: '10.241.2.1', port: 42002 });
    expect(f.destination).toEqual({ ip: '10.241.3.2', port: 41002 });
    expect(f.network.direction).toBe('ingress');
    expect(f.droptrace.path).toBe('forward');
    expect(evidence(f, 'rule', 'inet dtest c_fwd')!.delta).toBe(kernel);
  });
});

suite('doctor: conntrack table full (host-global nf_conntrack_max, restored)', () => {
  const lab = new Lab();
  let A: string, B: string;
  let run: DoctorRun;
  let before = 0;
  let after = 0;
  const stat = (ns: string) => {
    // /proc/net/stat/nf_conntrack: header, one hex row per CPU; sum the "drop" column.
    const lines = lab.exec(ns, 'cat', ['/proc/net/stat/nf_conntrack']).trim().split('\n');
    const col = lines[0].trim().split(/\s+/).indexOf('drop');
    return lines.slice(1).reduce((s, l) => s + parseInt(l.trim().split(/\s+/)[col], 16), 0);
  };

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.242.0', 'v'));
    // Conntrack only runs in a namespace whose rules use it.
    lab.nft(B, 'table inet ctt {\n  chain pre {\n    type filter hook prerouting priority 0;\n    ct state established,related accept\n  }\n}\n');
    const srv = await server(B, 'tcp-listen', '10.242.0.2', 5011, 128, 'accept');
    const held = background(A, 'tcp-connect-many', '10.242.0.2', 5011, 30, 60);
    try {
      // Wait until B tracks the 30 connections.
      for (let i = 0; i < 100 && Number(lab.exec(B, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count'])) < 30; i++) await new Promise((r) => setTimeout(r, 50));
      const count = Number(lab.exec(B, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count']));
      expect(count).toBeGreaterThanOrEqual(30);
      const old = readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').trim();
      before = stat(B);
      try {
        run = await doctor(['--duration', '3', '--fail-on', 'high', '--filter-netns', A, '--filter-netns', B], () => {
          writeFileSync('/proc/sys/net/netfilter/nf_conntrack_max', String(count));
          fault(A, 'tcp-connect-many', '10.242.0.2', 5011, 20, 1.5);
        });
      } finally {
        writeFileSync('/proc/sys/net/netfilter/nf_conntrack_max', old);
      }
      after = stat(B);
    } finally {
      held.stop();
      srv.stop();
    }
  }, 180_000);

  afterAll(() => lab.cleanup());

  it('NETFILTER_DROP at nf_hook_slow is explained as a full table, not a rule; the drop counter delta is the kernel\'s; --fail-on high exits 6', () => {
    // A full conntrack table is at least high: --fail-on high makes the exit code 6, the findings are still printed.
    expect(run.code, describe(run)).toBe(6);
    expect(run.stderr.join('\n')).toMatch(/finding\(s\) at or above high/);
    const fs = findingsOf(run, 'conntrack-table-full', lab.netnsInode(B));
    expect(fs, describe(run)).toHaveLength(1);
    const f = fs[0];
    expect(after - before).toBeGreaterThan(0);
    expect(evidence(f, 'counter', 'nf_conntrack.drop')!.delta).toBe(after - before);
    expect(f.destination).toMatchObject({ ip: '10.242.0.2', port: 5011 });
    expect(f.source.ip).toBe('10.242.0.1');
    expect(f.network.direction).toBe('ingress');
    expect(['high', 'critical']).toContain(f.droptrace.finding.severity);
    expect(f.rule).toBeUndefined();
    expect(findingsOf(run, 'firewall-rule', lab.netnsInode(B))).toHaveLength(0);
  });
});

suite('doctor: 10,000 rules', () => {
  const lab = new Lab();
  let B: string, A: string;
  let run: DoctorRun;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.243.0', 'v'));
    const rules = Array.from({ length: 10_000 }, (_, i) => `    udp dport ${20000 + i} counter drop comment "r${i}"`).join('\n');
    lab.nft(B, `table inet big {\n  chain c_in {\n    type filter hook input priority 0;\n${rules}\n  }\n}\n`);
    run = await doctor(['--duration', '3', '--filter-netns', A, '--filter-netns', B], () => {
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.243.0.2', '27345', '50', '43000']);
    });
  }, 180_000);

  afterAll(() => lab.cleanup());

  it('names the one rule among 10,000 whose counter moved, in bounded time after the window', () => {
    expect(run.code, describe(run)).toBe(0);
    const f = findingsOf(run, 'firewall-rule', lab.netnsInode(B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.rule).toMatchObject({ ruleset: 'inet/big', category: 'c_in', name: 'r7345' });
    // The 10,000-rule listing is bigger than the helper's default buffer.
    const j = JSON.parse(execFileSync('ip', ['netns', 'exec', B, 'nft', '-j', 'list', 'table', 'inet', 'big'], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { nftables: Array<Record<string, any>> };
    const kernel = Number(j.nftables.find((x) => x.rule?.comment === 'r7345')!.rule.expr.find((e: any) => e.counter).counter.packets);
    expect(kernel).toBe(50);
    expect(evidence(f, 'rule', 'inet big c_in')!.delta).toBe(kernel);
    const ms = Number(/report ready (\d+) ms after the window/.exec(run.stderr.join('\n'))?.[1]);
    // Generous bound (a shared, noisy VM): scripts/bench measures the real cost.
    expect(ms).toBeLessThan(10_000);
  });
});

suite('doctor: missing tools (nft, iptables-legacy-save, ethtool, ss absent from PATH)', () => {
  const lab = new Lab();
  let A: string, B: string;
  let run: DoctorRun;
  let dir: string;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.244.0', 'v', 'udp dport 44000 counter drop comment "hidden"'));
    dir = mkdtempSync(join(tmpdir(), 'droptrace-path-'));
    const which = (t: string) => execFileSync('sh', ['-c', 'command -v "$1"', 'sh', t], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).trim();
    for (const t of ['nsenter', 'tc', 'ip', 'bpftrace']) symlinkSync(which(t), join(dir, t));
    run = await doctor(['--duration', '3', '--filter-netns', A, '--filter-netns', B], () => {
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.244.0.2', '44000', '40', '44001']);
    }, { PATH: dir });
  }, 180_000);

  afterAll(() => {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('still reports the drop, says the rule could not be named, and lists what could not be checked', () => {
    expect(run.code, describe(run)).toBe(0);
    const f = findingsOf(run, 'firewall-rule', lab.netnsInode(B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.rule).toBeUndefined();
    expect(evidence(f, 'drops', 'NETFILTER_DROP')!.value).toBe(lab.nftCounter(B, 'dtest', 'hidden'));
    expect(evidence(f, 'rule', 'not attributed')!.detail).toMatch(/nft not found/);
    const inc = findingsOf(run, 'diagnosis-incomplete')[0];
    expect(inc, describe(run)).toBeDefined();
    expect(inc.droptrace.finding.severity).toBe('info');
    const missing = inc.droptrace.finding.evidence.filter((e: any) => e.value === 'not found').map((e: any) => e.name).sort();
    expect(missing).toEqual(['ethtool', 'ip6tables-legacy-save', 'iptables-legacy-save', 'nft', 'ss']);
    expect(evidence(inc, 'tool', 'nft')!.detail).toMatch(/rule/);
  });
});
