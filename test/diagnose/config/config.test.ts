import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSs, parseEndpoint, boundTo } from '../../../src/diagnose/config/sockets.js';
import { parseGrepH, sysctlFiles, sysctlName } from '../../../src/diagnose/config/sysctl.js';

const FX = join(import.meta.dirname, '..', '..', 'fixtures', 'diagnose');

describe('ss -H -a -n -t -u -m -O -p (fixture: iproute2 6.1)', () => {
  const socks = parseSs(readFileSync(join(FX, 'ss.txt'), 'utf8'));

  it('listener: Recv-Q/Send-Q are queue/backlog; skmem; owner', () => {
    const l = socks.find((s) => s.state === 'LISTEN')!;
    expect(l).toMatchObject({ proto: 'tcp', recvQ: 0, sendQ: 3, local: { ip: '10.231.0.2', port: 5555 } });
    expect(l.users).toEqual([{ name: 'python3', pid: expect.any(Number) }]);
  });

  it('UDP socket: receive memory, buffer and its drops', () => {
    const u = socks.find((s) => s.proto === 'udp')!;
    expect(u.skmem).toMatchObject({ r: 7680, rb: 8192, d: 15 });
    expect(u.peer).toEqual({ ip: '0.0.0.0', port: 0 });
  });

  it('endpoints: IPv6 brackets, scope ids, mapped IPv4, wildcards', () => {
    expect(parseEndpoint('[::1]:22')).toEqual({ ip: '::1', port: 22 });
    expect(parseEndpoint('[fe80::1%eth0]:53')).toEqual({ ip: 'fe80::1', port: 53 });
    expect(parseEndpoint('[::ffff:10.0.0.1]:80')).toEqual({ ip: '10.0.0.1', port: 80 });
    expect(parseEndpoint('*:*')).toEqual({ ip: '0.0.0.0', port: 0 });
    expect(parseEndpoint('garbage')).toBeUndefined();
  });

  it('boundTo: wildcard and exact addresses', () => {
    const l = socks.find((s) => s.state === 'LISTEN')!;
    expect(boundTo(l, '10.231.0.2', 5555)).toBe(true);
    expect(boundTo(l, '10.231.0.3', 5555)).toBe(false);
    expect(boundTo({ ...l, local: { ip: '0.0.0.0', port: 5555 } }, '10.9.9.9', 5555)).toBe(true);
    expect(boundTo(l, '10.231.0.2', 5556)).toBe(false);
  });

  it('a line that is not a socket is skipped, a hostile process name stays data', () => {
    const s = parseSs('garbage\ntcp LISTEN 0 5 1.2.3.4:80 0.0.0.0:* users:(("x\\"\\u001b[2J",pid=9,fd=3))\n');
    expect(s).toHaveLength(1);
    expect(s[0].users[0].pid).toBe(9);
  });
});

describe('sysctls read with grep -H', () => {
  it('files for the namespace and for each interface (never a path from a name with a slash)', () => {
    const f = sysctlFiles(['eth0', 'a/b', '..']);
    expect(f).toContain('/proc/sys/net/ipv4/conf/eth0/rp_filter');
    expect(f.some((x) => x.includes('a/b') || x.includes('/../'))).toBe(false);
  });

  it('parses path:value lines; values with spaces collapsed; dotted names', () => {
    const m = parseGrepH('/proc/sys/net/ipv4/tcp_rmem:4096\t131072\t6291456\n/proc/sys/net/ipv4/conf/eth0/rp_filter:1\nnoise\n');
    expect(m.get('net.ipv4.tcp_rmem')).toBe('4096 131072 6291456');
    expect(m.get('net.ipv4.conf.eth0.rp_filter')).toBe('1');
    expect(sysctlName('/proc/sys/net/core/somaxconn')).toBe('net.core.somaxconn');
  });
});
