import { describe, it, expect } from 'vitest';
import { parseFilters, parseCidr, isEmpty, PROTO_NUMBERS, type RawFilters } from '../../src/filters/filters.js';
import { UsageError } from '../../src/errors.js';

type Key = keyof RawFilters;
const FLAGS: Array<[Key, string]> = [
  ['host', 'filter-host'],
  ['port', 'filter-port'],
  ['proto', 'filter-proto'],
  ['iface', 'filter-iface'],
  ['netns', 'filter-netns'],
  ['reason', 'filter-reason'],
  ['excludeReason', 'exclude-reason'],
];

function rejection(key: Key, value: string): UsageError {
  try {
    parseFilters({ [key]: [value] });
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw new Error(`${key} ${JSON.stringify(value)}: threw ${String(e)} instead of a UsageError`);
  }
  throw new Error(`${key} ${JSON.stringify(value)} was accepted`);
}

function expectRejected(key: Key, value: string): void {
  const flag = FLAGS.find(([k]) => k === key)![1];
  const e = rejection(key, value);
  expect(e.message, `${flag} ${JSON.stringify(value)}`).toContain(`--${flag}`);
  expect(e.exitCode).toBe(2);
  // The message is printed to a terminal: it must not carry the raw control/bidi characters.
  expect(e.message).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
}

describe('parseFilters: valid values', () => {
  it('no flags → empty filters', () => {
    const f = parseFilters({});
    expect(f).toEqual({ hosts: [], ports: [], protos: [], ifaces: [], netns: [], reasons: [], excludeReasons: [] });
    expect(isEmpty(f)).toBe(true);
  });

  it('IPv4 addresses and CIDRs, masked to the prefix', () => {
    const f = parseFilters({ host: ['10.1.0.2', '10.1.2.3/8', '192.168.1.129/25', '10.1.3.255/23', '0.0.0.0/0'] });
    expect(f.hosts.map((h) => [h.family, h.bytes, h.prefix])).toEqual([
      [4, [10, 1, 0, 2], 32],
      [4, [10, 0, 0, 0], 8],
      [4, [192, 168, 1, 128], 25],
      [4, [10, 1, 2, 0], 23],
      [4, [0, 0, 0, 0], 0],
    ]);
    expect(f.hosts[1].text).toBe('10.1.2.3/8');
    expect(isEmpty(f)).toBe(false);
  });

  it('IPv6 addresses and CIDRs, compressed forms, v4-mapped, masking inside a group', () => {
    const f = parseFilters({ host: ['2001:db8::1', '2001:db8:abcd:ffff::/33', '::1', '::', '::ffff:10.1.2.3', 'FE80::1:2/64', '1:2:3:4:5:6:7:8'] });
    expect(f.hosts.map((h) => h.family)).toEqual([6, 6, 6, 6, 6, 6, 6]);
    expect(f.hosts[0].bytes).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(f.hosts[0].prefix).toBe(128);
    expect(f.hosts[1].bytes).toEqual([0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(f.hosts[1].prefix).toBe(33);
    expect(f.hosts[2].bytes).toEqual([...Array(15).fill(0), 1]);
    expect(f.hosts[3].bytes).toEqual(Array(16).fill(0));
    expect(f.hosts[4].bytes).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    expect(f.hosts[5].bytes).toEqual([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(f.hosts[6].bytes).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  });

  it('parseCidr names the flag it was given', () => {
    expect(() => parseCidr('nope', 'filter-foo')).toThrow(/--filter-foo/);
    expect(parseCidr('10.0.0.0/8').prefix).toBe(8);
  });

  it('ports, ranges and comma lists', () => {
    const f = parseFilters({ port: ['53', '8000-8080', '443,993', '1', '65535', '7-7'] });
    expect(f.ports).toEqual([
      { from: 53, to: 53 }, { from: 8000, to: 8080 }, { from: 443, to: 443 }, { from: 993, to: 993 },
      { from: 1, to: 1 }, { from: 65535, to: 65535 }, { from: 7, to: 7 },
    ]);
  });

  it('protocols by name (any case) and number', () => {
    const f = parseFilters({ proto: ['tcp', 'UDP', 'icmp', 'icmpv6', 'ipv6-icmp', 'sctp', 'udplite', 'gre', '0', '89', '255'] });
    expect(f.protos).toEqual([6, 17, 1, 58, 58, 132, 136, 47, 0, 89, 255]);
    expect(PROTO_NUMBERS.tcp).toBe(6);
  });

  it('interfaces by name or index', () => {
    const f = parseFilters({ iface: ['eth0', 'veth-b', 'br.100', 'wg0@if5', '_x', 'abcdefghijklmno', '3', '2147483647'] });
    expect(f.ifaces).toEqual([
      { name: 'eth0' }, { name: 'veth-b' }, { name: 'br.100' }, { name: 'wg0@if5' }, { name: '_x' }, { name: 'abcdefghijklmno' },
      { index: 3 }, { index: 2147483647 },
    ]);
  });

  it('netns inodes, bare or as readlink prints them', () => {
    expect(parseFilters({ netns: ['4026531840', 'net:[4026532301]', '1', '4294967295'] }).netns).toEqual([4026531840, 4026532301, 1, 4294967295]);
  });

  it('reason names, normalised (case, SKB_DROP_REASON_ prefix)', () => {
    const f = parseFilters({ reason: ['NETFILTER_DROP', 'skb_drop_reason_no_socket'], excludeReason: ['tcp_csum'] });
    expect(f.reasons).toEqual(['NETFILTER_DROP', 'NO_SOCKET']);
    expect(f.excludeReasons).toEqual(['TCP_CSUM']);
  });

  it('accepts up to 64 values per flag', () => {
    expect(parseFilters({ port: Array.from({ length: 64 }, (_, i) => String(i + 1)) }).ports).toHaveLength(64);
  });
});

describe('parseFilters: hostile values are rejected with a UsageError naming the flag', () => {
  // Rejected by every flag.
  const HOSTILE: string[] = [
    '"', "'", '80"', "eth0'", '{1}', '}', '80;', '1;system("id")', '$(id)', '$(reboot)', '`id`', '80`', '80\n1', '80\r',
    '\n', '80\u0000', '\u0000', '-x', '--unsafe', '-1', '-e', 'a'.repeat(65), '1'.repeat(200), 'é', '日本', 'eth0\u202e',
    '\u202e08', '\u2066x\u2069', '\u200b80', '８０', '\x1b[31m', '\x1b]0;pwned\x07', '1 || 1', '1||1', '1&&1', '80 ', ' 80',
    '\t80', '', ',', '80,', ',80', '(1)', '1)||(1', 'a==a', '$sport', '$reason', '*', '/', '..', '\\x41', '%s', '0x10\n',
    '\u0085', '\u00a0', '\u2028',
  ];

  it('has at least 25 hostile values', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(25);
  });

  for (const [key, flag] of FLAGS) {
    it.each(HOSTILE.map((v) => [JSON.stringify(v), v]))(`--${flag} %s`, (_label, v) => {
      expectRejected(key, v);
    });
  }

  const PER_FLAG: Array<[Key, string[]]> = [
    ['host', ['10.0.0.0/33', '::/129', '10.0.0.0/999', '1.2.3.4/', '1.2.3.4/-1', '1.2.3', '256.0.0.1', '010.0.0.1', '0x7f000001',
      '0x10', '1e3', '-1', 'localhost', 'fe80::1%eth0', '1::2::3', '::ffff:1.2.3.4/129', '1.2.3.4/8/8', '10.0.0.0/+8', '1.2.3.4.5']],
    ['port', ['0', '65536', '99999', '100000', '1-0', '80-70', '80-', '-80', '0-10', '1-65536', '+80', '80.0', '8O', '0x50', '1e3',
      '0x10', '-5', '1--2', '1-2-3', '..', '80..90']],
    ['proto', ['256', '999', 'tcpp', 'tc p', '0x6', '0x10', '1e1', '1e3', '-6', '6.0', 'TCP;', 'ipv6', 'all', '0006']],
    ['iface', ['..', '.hidden', 'a/b', 'eth0:1', 'x'.repeat(16), '0', '2147483648', '9999999999', '-eth0', 'eth0!', 'eth 0']],
    ['netns', ['0', '4294967296', '99999999999', 'net:[abc]', 'net:[-1]', 'net:[123', '123]', 'net:123', 'net:[]', '1e3', '0x10', '-3', '1.5']],
    ['reason', ['1ABC', '_X', 'NETFILTER-DROP', 'NETFILTER.DROP', 'a'.repeat(64) + 'b', '0x10', '1e3', '-NETFILTER_DROP']],
    ['excludeReason', ['1ABC', 'NO SOCKET', '$(x)']],
  ];
  for (const [key, values] of PER_FLAG) {
    it.each(values.map((v) => [JSON.stringify(v), v]))(`${key}: %s`, (_label, v) => {
      expectRejected(key, v);
    });
  }

  it('more than 64 values', () => {
    expectRejected('port', Array.from({ length: 65 }, (_, i) => String(i + 1)).join(','));
    expect(() => parseFilters({ host: Array(65).fill('10.0.0.1') })).toThrow(/--filter-host: at most 64/);
  });

  it('a non-string value (e.g. from a config file)', () => {
    expect(() => parseFilters({ port: [80 as unknown as string] })).toThrow(UsageError);
  });

  it('one bad value among good ones rejects the whole flag', () => {
    expectRejected('port', '80,443,$(id)');
    expect(() => parseFilters({ port: ['80'], host: ['10.0.0.1', '10.0.0.0/33'] })).toThrow(/--filter-host/);
  });

  it('error messages show hostile characters as visible escapes', () => {
    expect(rejection('port', '\u202e08').message).toContain('"\\u{202e}08"');
    expect(rejection('iface', 'eth\u00850').message).toContain('"eth\\x850"');
    expect(rejection('host', '10.0.0.1\n').message).toContain('"10.0.0.1\\x0a"');
  });

  it('overlong values are reported by length, not echoed in full', () => {
    const e = rejection('host', 'a'.repeat(5000));
    expect(e.message.length).toBeLessThan(200);
  });
});
