import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNftJson, parseNftText } from '../../../src/diagnose/netfilter/nft.js';
import { parseIptablesSave, shellWords } from '../../../src/diagnose/netfilter/iptables.js';
import { ruleMatches, ipToBig, type FlowFacts } from '../../../src/diagnose/netfilter/match.js';

const FX = join(import.meta.dirname, '..', '..', 'fixtures', 'diagnose');
const nft = parseNftJson(JSON.parse(readFileSync(join(FX, 'nft-ruleset.json'), 'utf8')));
const legacy = parseIptablesSave(readFileSync(join(FX, 'iptables-legacy-save.txt'), 'utf8'), 'iptables-legacy');
const byComment = (c: string) => nft.rules.find((r) => r.comment === c)!;

describe('nft -j list ruleset (fixture: nft 1.0.6)', () => {
  it('chains with hooks and policies', () => {
    expect(nft.chains.map((c) => [c.name, c.hook, c.policy])).toEqual([['c_in', 'input', 'drop'], ['icmpchk', undefined, undefined], ['c_out', 'output', 'accept']]);
  });

  it('verdicts, counters (inline and named), comments, handles', () => {
    expect(byComment('blocked set')).toMatchObject({ verdict: 'drop', packets: 0, handle: '7', family: 'inet', table: 'fx', chain: 'c_in' });
    expect(byComment('range')).toMatchObject({ verdict: 'drop', packets: 0 });
    expect(byComment('dns from 10/8').verdict).toBe('reject');
    expect(byComment('uncounted')).toMatchObject({ verdict: 'drop', packets: undefined });
    expect(nft.rules.find((r) => r.handle === '12')).toMatchObject({ verdict: 'jump', targets: ['icmpchk'] });
  });

  it('a regular chain inherits the hooks of the base chains that jump to it', () => {
    expect(byComment('icmp flood').hooks).toEqual(['input']);
    expect(byComment('out 9999').hooks).toEqual(['output']);
  });

  it('conditions: sets (named and anonymous), ranges, prefixes, negation, interface wildcards', () => {
    const f: FlowFacts = { l3: 'ipv4', l4proto: 'udp', saddr: '10.1.2.3', daddr: '10.0.0.2', sport: 4000, dport: 53, iifname: 'eth0' };
    expect(ruleMatches(byComment('dns from 10/8'), f)).toBe('yes');
    expect(ruleMatches(byComment('dns from 10/8'), { ...f, saddr: '192.168.0.1' })).toBe('no');
    expect(ruleMatches(byComment('blocked set'), { ...f, saddr: '192.0.2.2' })).toBe('yes');
    expect(ruleMatches(byComment('blocked set'), f)).toBe('no');
    expect(ruleMatches(byComment('range'), { ...f, dport: 5005 })).toBe('yes');
    expect(ruleMatches(byComment('range'), { ...f, dport: 5011 })).toBe('no');
    expect(ruleMatches(byComment('range'), { ...f, l4proto: 'tcp', dport: 5005 })).toBe('no');
    expect(ruleMatches(byComment('out 9999'), { ...f, dport: 9999, oifname: 'lo' })).toBe('no');
    expect(ruleMatches(byComment('out 9999'), { ...f, dport: 9999, oifname: 'veth1' })).toBe('yes');
    expect(ruleMatches(nft.rules.find((r) => r.handle === '12')!, { ...f, l4proto: 'icmp', iifname: 'eth1' })).toBe('yes');
    expect(ruleMatches(nft.rules.find((r) => r.handle === '12')!, { ...f, l4proto: 'icmp', iifname: 'wlan0' })).toBe('no');
    // ct state: a flow record cannot tell.
    expect(ruleMatches(nft.rules.find((r) => r.handle === '6')!, f)).toBe('maybe');
    // Unknown fields of the flow make a test a maybe, never a no.
    expect(ruleMatches(byComment('dns from 10/8'), { l3: 'ipv4' })).toBe('maybe');
    expect(ruleMatches(byComment('dns from 10/8'), { l3: 'ipv6', l4proto: 'udp', dport: 53 })).toBe('no');
  });

  it('rule text rendered from the JSON is what nft prints, for every rule it can render', () => {
    const t = parseNftText(readFileSync(join(FX, 'nft-ruleset.txt'), 'utf8'));
    const rendered = nft.rules.filter((r) => r.text !== undefined);
    expect(rendered.length).toBeGreaterThanOrEqual(8);
    for (const r of rendered) expect(r.text).toBe(t.get(`${r.family}|${r.table}|${r.chain}|${r.handle}`));
    // limit and reject-with are left to the text listing.
    expect(nft.rules.filter((r) => r.text === undefined).map((r) => r.handle).sort()).toEqual(['11', '14']);
  });

  it('rule text as nft prints it, without the snapshot\'s counter values', () => {
    const t = parseNftText(readFileSync(join(FX, 'nft-ruleset.txt'), 'utf8'));
    expect(t.get('inet|fx|c_in|7')).toBe('ip saddr @blocked counter drop comment "blocked set"');
    expect(t.get('inet|fx|icmpchk|15')).toBe('counter drop comment "icmp flood"');
    expect([...t.keys()].some((k) => k.endsWith('|4') || k.endsWith('|5'))).toBe(false);
  });
});

describe('iptables-legacy-save -c (fixture: iptables 1.8.9)', () => {
  it('policy counters of built-in chains, rules by position, comments with escaped quotes', () => {
    expect(legacy.chains.find((c) => c.name === 'FORWARD')).toMatchObject({ hook: 'forward', policy: 'drop', policyPackets: 0 });
    expect(legacy.chains.find((c) => c.name === 'CUSTOM')).toMatchObject({ hook: undefined, policy: undefined });
    const dns = legacy.rules.find((r) => r.chain === 'INPUT' && r.handle === '1')!;
    expect(dns).toMatchObject({ verdict: 'drop', comment: 'dns "legacy"', packets: 0, hooks: ['input'], family: 'ip' });
    expect(dns.text).toMatch(/^-A INPUT -s 10\.0\.0\.0\/8/);
    expect(legacy.rules.find((r) => r.chain === 'INPUT' && r.handle === '2')).toMatchObject({ verdict: 'jump', targets: ['CUSTOM'] });
    expect(legacy.rules.find((r) => r.chain === 'CUSTOM')).toMatchObject({ verdict: 'reject', hooks: ['input'] });
  });

  it('conditions from -s/-p/--dport/-i with + wildcards', () => {
    const dns = legacy.rules.find((r) => r.chain === 'INPUT' && r.handle === '1')!;
    expect(ruleMatches(dns, { l3: 'ipv4', l4proto: 'udp', saddr: '10.9.9.9', dport: 53 })).toBe('yes');
    expect(ruleMatches(dns, { l3: 'ipv4', l4proto: 'udp', saddr: '11.9.9.9', dport: 53 })).toBe('no');
    const jump = legacy.rules.find((r) => r.chain === 'INPUT' && r.handle === '2')!;
    expect(ruleMatches(jump, { l3: 'ipv4', l4proto: 'tcp', dport: 8080, iifname: 'eth3' })).toBe('yes');
    expect(ruleMatches(jump, { l3: 'ipv4', l4proto: 'tcp', dport: 8080, iifname: 'lo' })).toBe('no');
  });

  it('shellWords honours quotes and escapes', () => {
    expect(shellWords('-m comment --comment "a \\"b\\" c" -j DROP')).toEqual(['-m', 'comment', '--comment', 'a "b" c', '-j', 'DROP']);
    expect(shellWords('--comment ""')).toEqual(['--comment', '']);
  });
});

describe('ipToBig', () => {
  it('IPv4, IPv6 with ::, mapped IPv4, garbage', () => {
    expect(ipToBig('10.0.0.1')).toEqual({ v: 0x0a000001n, bits: 32 });
    expect(ipToBig('2001:db8::1')!.v).toBe(0x20010db8000000000000000000000001n);
    expect(ipToBig('::ffff:10.0.0.1')!.v).toBe(0xffff0a000001n);
    expect(ipToBig('300.1.1.1')).toBeUndefined();
    expect(ipToBig('not-an-ip')).toBeUndefined();
  });
});
