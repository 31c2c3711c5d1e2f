// Live: causes inside one host's stack, each injected for real in its own
// pair of namespaces, diagnosed together in one doctor window (so the
// doctor must keep them apart): reverse-path filter, a socket receive
// buffer (slow UDP reader), checksum errors, no listener (UDP and TCP), a
// PAWS/timestamp storm; then listen-queue overflows with syncookies on and
// off; then TCP memory pressure (host-global tcp_mem, restored).
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Lab, sh } from '../helpers/netns.js';
import { doctor, findingsOf, describe, evidence, fault, server, background, kernelCounters, counterDelta, type DoctorRun } from '../helpers/doctor.js';

/** Two namespaces on one veth: X.1 and X.2 (a /24). */
function pair(lab: Lab, tag: string, net: string): { A: string; B: string } {
  const A = lab.ns(`${tag}a`);
  const B = lab.ns(`${tag}b`);
  lab.link(A, `${net}.1/24`, B, `${net}.2/24`, `${lab.prefix}${tag}`);
  return { A, B };
}

suite('doctor: causes inside the stack, five at once', () => {
  const lab = new Lab();
  const p: Record<string, { A: string; B: string }> = {};
  const before = new Map<string, Map<string, number>>();
  const after = new Map<string, Map<string, number>>();
  let run: DoctorRun;

  beforeAll(async () => {
    p.rp = pair(lab, 'r', '10.245.1');
    p.buf = pair(lab, 'u', '10.245.2');
    p.csum = pair(lab, 'c', '10.245.3');
    p.none = pair(lab, 'n', '10.245.4');
    p.paws = pair(lab, 'p', '10.245.5');
    lab.exec(p.rp.B, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=1', `net.ipv4.conf.${lab.prefix}rb.rp_filter=1`]);
    const reader = await server(p.buf.B, 'udp-slow-reader', '10.245.2.2', 6000, 4096);
    const listener = await server(p.paws.B, 'tcp-listen', '10.245.5.2', 6200, 16, 'accept');
    const all = Object.values(p).flatMap((x) => [x.A, x.B]);
    for (const ns of all) before.set(ns, kernelCounters(ns));
    try {
      run = await doctor(['--duration', '4', ...all.flatMap((n) => ['--filter-netns', n])], () => {
        // Spoofed source 10.99.0.7: B has no route back to it through its interface.
        // hping3 exits 1 when nothing answers (nothing does): its status is not the point.
        spawnSync('ip', ['netns', 'exec', p.rp.A, 'hping3', '--udp', '-a', '10.99.0.7', '-s', '33000', '-k', '-p', '6001', '-c', '30', '-i', 'u5000', '10.245.1.2'], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
        fault(p.buf.A, 'udp-send', '10.245.2.2', 6000, 300, 1000, 45000, 0.001);
        fault(p.csum.A, 'udp-bad-csum', '10.245.3.1', '10.245.3.2', 7000, 7001, 25);
        fault(p.none.A, 'udp-send', '10.245.4.2', 9999, 50, 100, 45001, 0.002);
        fault(p.none.A, 'tcp-connect-many', '10.245.4.2', 9998, 10, 0.5);
        fault(p.paws.A, 'paws-storm', '10.245.5.1', '10.245.5.2', 6200, 200);
      });
    } finally {
      reader.stop();
      listener.stop();
    }
    for (const ns of all) after.set(ns, kernelCounters(ns));
  }, 180_000);

  afterAll(() => lab.cleanup());
  const delta = (ns: string, name: string) => counterDelta(before.get(ns)!, after.get(ns)!, name);

  it('ran and exited 0', () => {
    expect(run.code, describe(run)).toBe(0);
  });

  it('reverse-path filter: spoofed source, strict rp_filter quoted, counter delta = kernel', () => {
    const f = findingsOf(run, 'reverse-path-filter', lab.netnsInode(p.rp.B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toEqual({ ip: '10.99.0.7', port: 33000 });
    expect(f.destination).toEqual({ ip: '10.245.1.2', port: 6001 });
    expect(f.network.direction).toBe('ingress');
    const k = delta(p.rp.B, 'TcpExt.IPReversePathFilter');
    expect(k).toBe(30);
    expect(evidence(f, 'counter', 'TcpExt.IPReversePathFilter')!.delta).toBe(k);
    expect(evidence(f, 'drops', 'IP_RPFILTER')!.value).toBe(k);
    expect(evidence(f, 'config', `net.ipv4.conf.${lab.prefix}rb.rp_filter`)!.value).toBe('1');
  });

  it('socket receive buffer: the slow UDP reader, its socket, RcvbufErrors delta = kernel', () => {
    const f = findingsOf(run, 'socket-receive-buffer', lab.netnsInode(p.buf.B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.destination).toEqual({ ip: '10.245.2.2', port: 6000 });
    expect(f.source).toEqual({ ip: '10.245.2.1', port: 45000 });
    expect(f.network).toMatchObject({ transport: 'udp', direction: 'ingress' });
    const k = delta(p.buf.B, 'Udp.RcvbufErrors');
    expect(k).toBeGreaterThan(100);
    expect(evidence(f, 'counter', 'Udp.RcvbufErrors')!.delta).toBe(k);
    expect(evidence(f, 'drops', 'SOCKET_RCVBUFF')!.value).toBe(k);
    expect(evidence(f, 'socket', 'udp socket 10.245.2.2:6000')).toBeDefined();
  });

  it('checksum errors: bad UDP checksums, InCsumErrors delta = kernel', () => {
    const f = findingsOf(run, 'checksum-error', lab.netnsInode(p.csum.B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source).toEqual({ ip: '10.245.3.1', port: 7000 });
    expect(f.destination).toEqual({ ip: '10.245.3.2', port: 7001 });
    expect(f.network.direction).toBe('ingress');
    const k = delta(p.csum.B, 'Udp.InCsumErrors');
    expect(k).toBe(25);
    expect(evidence(f, 'counter', 'Udp.InCsumErrors')!.delta).toBe(k);
    expect(evidence(f, 'drops', 'UDP_CSUM')!.value).toBe(k);
  });

  it('no listener: UDP and TCP closed ports, NoPorts delta = kernel', () => {
    const fs = findingsOf(run, 'no-listener', lab.netnsInode(p.none.B));
    const udp = fs.find((f) => f.destination?.port === 9999);
    const tcp = fs.find((f) => f.destination?.port === 9998);
    expect(udp, describe(run)).toBeDefined();
    expect(tcp, describe(run)).toBeDefined();
    expect(udp!.source).toEqual({ ip: '10.245.4.1', port: 45001 });
    expect(udp!.network).toMatchObject({ transport: 'udp', direction: 'ingress' });
    expect(tcp!.network).toMatchObject({ transport: 'tcp', direction: 'ingress' });
    const k = delta(p.none.B, 'Udp.NoPorts');
    expect(k).toBe(50);
    expect(evidence(udp!, 'counter', 'Udp.NoPorts')!.delta).toBe(k);
    expect(evidence(udp!, 'drops', 'NO_SOCKET')!.value).toBe(k);
    expect(evidence(tcp!, 'socket', 'tcp port 9998')!.value).toBe('no socket');
  });

  it('PAWS: stale timestamps on an established connection, PAWSEstab delta = kernel', () => {
    const f = findingsOf(run, 'tcp-timestamps-paws', lab.netnsInode(p.paws.B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.source.ip).toBe('10.245.5.1');
    expect(f.destination).toEqual({ ip: '10.245.5.2', port: 6200 });
    expect(f.network).toMatchObject({ transport: 'tcp', direction: 'ingress' });
    const k = delta(p.paws.B, 'TcpExt.PAWSEstab');
    expect(k).toBe(200);
    expect(evidence(f, 'counter', 'TcpExt.PAWSEstab')!.delta).toBe(k);
    expect(evidence(f, 'drops', 'TCP_RFC7323_PAWS')!.value).toBe(k);
    expect(evidence(f, 'config', 'net.ipv4.tcp_timestamps')!.value).toBe('1');
  });

  it('nothing is blamed on the wrong namespace or cause', () => {
    const causes = new Map<string, string>([[p.rp.B, 'reverse-path-filter'], [p.buf.B, 'socket-receive-buffer'], [p.csum.B, 'checksum-error'], [p.none.B, 'no-listener'], [p.paws.B, 'tcp-timestamps-paws']]);
    for (const [ns, cause] of causes) {
      const here = run.findings.filter((f) => f.droptrace.netns?.inode === lab.netnsInode(ns) && f.droptrace.finding.severity !== 'info');
      expect(here.map((f) => f.droptrace.finding.cause).filter((c) => c !== cause), describe(run)).toEqual([]);
    }
  });
});

suite('doctor: listen-queue overflow, syncookies on and off', () => {
  const lab = new Lab();
  let on: { A: string; B: string }, off: { A: string; B: string };
  let run: DoctorRun;
  const before = new Map<string, Map<string, number>>();
  const after = new Map<string, Map<string, number>>();

  beforeAll(async () => {
    on = pair(lab, 'o', '10.246.1');
    off = pair(lab, 'f', '10.246.2');
    lab.exec(on.B, 'sysctl', ['-qw', 'net.ipv4.tcp_syncookies=1']);
    lab.exec(off.B, 'sysctl', ['-qw', 'net.ipv4.tcp_syncookies=0']);
    const l1 = await server(on.B, 'tcp-listen', '10.246.1.2', 5000, 1, 'noaccept');
    const l2 = await server(off.B, 'tcp-listen', '10.246.2.2', 5001, 1, 'noaccept');
    for (const ns of [on.B, off.B]) before.set(ns, kernelCounters(ns));
    try {
      run = await doctor(['--duration', '4', ...[on.A, on.B, off.A, off.B].flatMap((n) => ['--filter-netns', n])], async () => {
        const a = background(on.A, 'tcp-connect-many', '10.246.1.2', 5000, 40, 2.5);
        const b = background(off.A, 'tcp-connect-many', '10.246.2.2', 5001, 40, 2.5);
        await Promise.all([a.done, b.done]);
      });
    } finally {
      l1.stop();
      l2.stop();
    }
    for (const ns of [on.B, off.B]) after.set(ns, kernelCounters(ns));
  }, 180_000);

  afterAll(() => lab.cleanup());

  for (const [label, get, port] of [['on', () => on, 5000], ['off', () => off, 5001]] as const) {
    it(`syncookies ${label}: the listener, its queue and ListenOverflows delta = kernel`, () => {
      const { B } = get();
      const f = findingsOf(run, 'listen-queue-overflow', lab.netnsInode(B))[0];
      expect(f, describe(run)).toBeDefined();
      expect(f.destination).toEqual({ ip: label === 'on' ? '10.246.1.2' : '10.246.2.2', port });
      expect(f.source.ip).toBe(label === 'on' ? '10.246.1.1' : '10.246.2.1');
      expect(f.network).toMatchObject({ transport: 'tcp', direction: 'ingress' });
      const k = counterDelta(before.get(B)!, after.get(B)!, 'TcpExt.ListenOverflows');
      expect(k).toBeGreaterThan(0);
      expect(evidence(f, 'counter', 'TcpExt.ListenOverflows')!.delta).toBe(k);
      expect(evidence(f, 'config', 'net.ipv4.tcp_syncookies')!.value).toBe(label === 'on' ? '1' : '0');
      expect(evidence(f, 'socket', `listener ${label === 'on' ? '10.246.1.2' : '10.246.2.2'}:${port}`)!.value).toMatch(/accept queue \d+\/1/);
      // Not blamed on a missing listener.
      expect(findingsOf(run, 'no-listener', lab.netnsInode(B))).toHaveLength(0);
    });
  }
});

suite('doctor: TCP memory pressure (host-global tcp_mem, restored)', () => {
  const lab = new Lab();
  let A: string, B: string;
  let run: DoctorRun;
  let before: Map<string, number>, after: Map<string, number>;

  beforeAll(async () => {
    ({ A, B } = pair(lab, 'm', '10.247.0'));
    before = kernelCounters(B);
    const reader = await server(B, 'tcp-hold-reader', '10.247.0.2', 6300, 0);
    const old = readFileSync('/proc/sys/net/ipv4/tcp_mem', 'utf8').trim();
    try {
      run = await doctor(['--duration', '4', '--filter-netns', A, '--filter-netns', B], async () => {
        const used = Number(/^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
        // Just above what the host uses now: only new buffers hit it, for ~2 s.
        try {
          writeFileSync('/proc/sys/net/ipv4/tcp_mem', `${used + 10} ${used + 20} ${used + 30}`);
          const pushes = Array.from({ length: 12 }, () => background(A, 'tcp-push', '10.247.0.2', 6300, 1.5, 0));
          await Promise.all(pushes.map((x) => x.done));
        } finally {
          writeFileSync('/proc/sys/net/ipv4/tcp_mem', old);
        }
      });
    } finally {
      writeFileSync('/proc/sys/net/ipv4/tcp_mem', old);
      reader.stop();
    }
    after = kernelCounters(B);
  }, 180_000);

  afterAll(() => lab.cleanup());

  it('PROTO_MEM drops explained as TCP memory pressure on the receiving service', () => {
    expect(run.code, describe(run)).toBe(0);
    const f = findingsOf(run, 'tcp-memory-pressure', lab.netnsInode(B))[0];
    expect(f, describe(run)).toBeDefined();
    expect(f.destination).toMatchObject({ ip: '10.247.0.2', port: 6300 });
    expect(f.source.ip).toBe('10.247.0.1');
    expect(f.network).toMatchObject({ transport: 'tcp', direction: 'ingress' });
    const drops = evidence(f, 'drops', 'PROTO_MEM');
    expect(drops!.value).toBeGreaterThan(0);
    // The kernel counts PROTO_MEM drops in tcp_data_queue as TCPRcvQDrop (TCPOFODrop when out of order).
    let counted = 0;
    for (const n of ['TcpExt.TCPRcvQDrop', 'TcpExt.TCPOFODrop']) {
      const k = counterDelta(before, after, n);
      counted += k;
      if (k > 0) expect(evidence(f, 'counter', n)!.delta).toBe(k);
    }
    expect(drops!.value).toBeLessThanOrEqual(counted);
    expect(evidence(f, 'config', 'net.ipv4.tcp_mem')).toBeDefined();
  });
});

export { sh };
