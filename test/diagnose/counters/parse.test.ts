import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseSnmpFile, parseSnmp6, parseSoftnet, parseConntrackStat, parseStatTable, parseNetDev, parseQdiscs, qdiscSamples, parseEthtoolStats, sampleKey,
} from '../../../src/diagnose/counters/parse.js';

const FX = join(import.meta.dirname, '..', '..', 'fixtures', 'diagnose');
const fx = (p: string) => readFileSync(join(FX, p), 'utf8');

describe('counter parsers on files copied from this machine (Linux 6.18)', () => {
  it('snmp and netstat: Prefix.Name, every value a number', () => {
    const s = parseSnmpFile(fx('net/snmp'), 'snmp');
    const n = parseSnmpFile(fx('net/netstat'), 'netstat');
    expect(s.find((x) => x.name === 'Udp.RcvbufErrors')).toMatchObject({ source: 'snmp' });
    expect(n.find((x) => x.name === 'TcpExt.ListenOverflows')).toMatchObject({ source: 'netstat' });
    expect(n.find((x) => x.name === 'TcpExt.PAWSEstab')).toBeDefined();
    for (const x of [...s, ...n]) expect(Number.isFinite(x.value)).toBe(true);
  });

  it('snmp6: split at the protocol prefix', () => {
    const s = parseSnmp6(fx('net/snmp6'));
    expect(s.find((x) => x.name === 'Ip6.InDiscards')).toBeDefined();
    expect(s.find((x) => x.name === 'Udp6.RcvbufErrors')).toBeDefined();
    expect(s.find((x) => x.name === 'UdpLite6.InErrors')).toBeDefined();
    expect(s.find((x) => x.name === 'Icmp6.InType133' || x.name.startsWith('Icmp6.'))).toBeDefined();
    expect(s.every((x) => x.source === 'snmp6')).toBe(true);
  });

  it('softnet_stat: dropped, time_squeeze, flow_limit_count summed over CPUs (hex)', () => {
    const text = '0009fc2a 00000003 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000\n000cdbcd 00000005 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000\n';
    const p = parseSoftnet(text);
    expect(Object.fromEntries(p.samples.map((x) => [x.name, x.value]))).toEqual({ 'softnet.dropped': 8, 'softnet.time_squeeze': 16, 'softnet.flow_limit_count': 1 });
    expect(p.worstCpu).toEqual({ cpu: 1, dropped: 5 });
    expect(parseSoftnet(fx('net/softnet_stat')).samples).toHaveLength(3);
  });

  it('nf_conntrack stat: columns by header name, per-CPU sum, entries not summed', () => {
    const text = 'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n0000001e  00000000 00000000 00000000 00000002 00000000 00000000 00000000 00000000 00000000 0000000a 00000000 00000000  00000000 00000000 00000000 00000000\n0000001e  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000001 00000014 00000000 00000000  00000000 00000000 00000000 00000000\n';
    const p = parseConntrackStat(text);
    expect(p.entries).toBe(30);
    const by = Object.fromEntries(p.samples.map((x) => [x.name, x.value]));
    expect(by['nf_conntrack.drop']).toBe(30);
    expect(by['nf_conntrack.invalid']).toBe(3);
    expect(by['nf_conntrack.insert_failed']).toBe(1);
    expect(by['nf_conntrack.entries']).toBeUndefined();
    expect(parseConntrackStat(fx('net/stat/nf_conntrack')).samples.length).toBeGreaterThan(10);
  });

  it('arp_cache: the same layout, neigh.* names', () => {
    const p = parseStatTable(fx('net/stat/arp_cache'), 'neigh.arp_cache', 'neigh');
    expect(p.samples.find((x) => x.name === 'neigh.arp_cache.unresolved_discards')).toMatchObject({ source: 'neigh' });
  });

  it('/proc/net/dev: the loss columns per interface (rx drop includes missed)', () => {
    const text = 'Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  eth0: 100 10 1 2 3 4 0 0 200 20 5 6 7 0 8 0\n';
    const by = Object.fromEntries(parseNetDev(text).map((x) => [`${x.iface}/${x.name}`, x.value]));
    expect(by).toMatchObject({ 'eth0/dev.rx_errors': 1, 'eth0/dev.rx_dropped': 2, 'eth0/dev.rx_fifo_errors': 3, 'eth0/dev.rx_frame_errors': 4, 'eth0/dev.tx_errors': 5, 'eth0/dev.tx_dropped': 6, 'eth0/dev.tx_fifo_errors': 7, 'eth0/dev.tx_carrier_errors': 8, 'eth0/dev.rx_packets': 10 });
    expect(parseNetDev(fx('net/dev')).some((x) => x.iface === 'lo')).toBe(true);
  });

  it('tc -s -d -j qdisc: qdiscs (noqueue skipped), drops/overlimits/requeues per qdisc', () => {
    const qs = parseQdiscs(JSON.parse(fx('tc-qdisc.json')));
    expect(qs.map((q) => q.kind)).toEqual(['tbf']);
    expect(qs[0]).toMatchObject({ dev: 'dgva', root: true, drops: 0 });
    const s = qdiscSamples(qs);
    expect(s.map((x) => x.name).sort()).toEqual(['qdisc.drops', 'qdisc.overlimits', 'qdisc.requeues']);
    expect(sampleKey(s[0])).toBe('qdisc.drops|dgva|tbf 8017:');
    expect(parseQdiscs([null, 7, { dev: 'x' }, { dev: 'x', kind: 'fq', drops: 'NaN' }])).toEqual([expect.objectContaining({ kind: 'fq', drops: 0 })]);
  });

  it('ethtool -S: loss-named driver statistics only', () => {
    const s = parseEthtoolStats(fx('ethtool-S-veth.txt'), 'veth0');
    expect(s.map((x) => x.name)).toContain('ethtool.rx_queue_0_drops');
    expect(s.map((x) => x.name)).not.toContain('ethtool.peer_ifindex');
    expect(s.every((x) => x.iface === 'veth0' && x.source === 'ethtool')).toBe(true);
  });
});
