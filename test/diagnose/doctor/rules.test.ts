// The rules on synthetic observations (what the kernel would show), with
// configuration from fixtures: corrections of misleading reasons, counter-only
// losses, flood roll-ups, noise last and collapsed, and the record shape.
import { describe, it, expect } from 'vitest';
import { Observation } from '../../../src/diagnose/doctor/observe.js';
import { diagnose } from '../../../src/diagnose/doctor/diagnose.js';
import { findingRecord, shq, inNs } from '../../../src/diagnose/doctor/finding.js';
import { renderFindings } from '../../../src/diagnose/doctor/render.js';
import { RateTracker } from '../../../src/diagnose/counters/rates.js';
import { Tools } from '../../../src/diagnose/exec/tools.js';
import type { ConfigSource } from '../../../src/diagnose/config/provider.js';
import type { SocketInfo } from '../../../src/diagnose/config/sockets.js';
import type { EcsRecord } from '../../../src/record/ecs.js';
import type { RulesetSnapshot } from '../../../src/diagnose/netfilter/snapshot.js';
import type { NfRule } from '../../../src/diagnose/netfilter/model.js';
import type { QdiscInfo } from '../../../src/diagnose/counters/parse.js';

const NS = 4026532001;
const NS2 = 4026532002;
let seq = 0;

interface D { ns?: number; reason: string; sym?: string; src?: [string, number?]; dst?: [string, number?]; count?: number; proto?: string; dir?: 'ingress' | 'egress'; path?: string; iif?: string }
function drop(d: D): EcsRecord {
  return {
    '@timestamp': 't', event: { kind: 'metric', category: ['network'], action: 'packet-dropped', dataset: 'droptrace.flows', reason: d.reason },
    network: { type: 'ipv4', transport: d.proto ?? 'udp', direction: d.dir ?? 'ingress' },
    ...(d.src ? { source: { ip: d.src[0], ...(d.src[1] !== undefined ? { port: d.src[1] } : {}) } } : {}),
    ...(d.dst ? { destination: { ip: d.dst[0], ...(d.dst[1] !== undefined ? { port: d.dst[1] } : {}) } } : {}),
    ...(d.iif ? { observer: { ingress: { interface: { id: '2', name: d.iif } } } } : {}),
    droptrace: { id: `r${seq++}`, count: d.count ?? 1, netns: { inode: d.ns ?? NS }, path: d.path ?? (d.dir === 'egress' ? 'local-out' : 'local-in'), drop: { reason_code: 1, location: { address: '0x1', symbol: d.sym ?? 'f', offset: 16 } } },
  } as EcsRecord;
}
function tcp(ns: number, action: string, type: string, src: [string, number], dst: [string, number], count: number): EcsRecord {
  return {
    '@timestamp': 't', event: { kind: 'metric', category: ['network'], action, dataset: 'droptrace.flows', reason: type } as EcsRecord['event'],
    network: { type: 'ipv4', transport: 'tcp', direction: action.startsWith('tcp-incoming') ? 'ingress' : 'egress' },
    source: { ip: src[0], port: src[1] }, destination: { ip: dst[0], port: dst[1] },
    droptrace: { id: `r${seq++}`, count, netns: { inode: ns }, ...(action.startsWith('tcp-incoming') ? {} : { retransmit: { type } }) },
  } as EcsRecord;
}

/** Counter deltas over a window, as the ticks would fold them in. */
function counters(obs: Observation, ns: number, deltas: Record<string, number>, seconds = 5, baselines?: RateTracker): void {
  const t = baselines ?? new RateTracker();
  const src = (n: string) => (n.startsWith('TcpExt') || n.startsWith('IpExt') ? 'netstat' : n.startsWith('nf_conntrack') ? 'nf_conntrack' : n.startsWith('softnet') ? 'softnet' : 'snmp');
  t.update({ inode: ns }, Object.keys(deltas).map((n) => ({ name: n, source: src(n), value: 0 })), 0);
  obs.addCounters(t.update({ inode: ns }, Object.entries(deltas).map(([n, v]) => ({ name: n, source: src(n), value: v })), seconds * 1000));
}

function cfg(o: { sockets?: SocketInfo[]; sysctls?: Record<string, string> } = {}): ConfigSource {
  return {
    sysctls: async () => new Map(Object.entries(o.sysctls ?? {})),
    sockets: async () => o.sockets,
    neighbours: async () => [],
    route: async () => undefined,
    sockstat: () => new Map(),
  };
}

const listener = (ip: string, port: number, q: number, backlog: number): SocketInfo => ({ proto: 'tcp', state: 'LISTEN', recvQ: q, sendQ: backlog, local: { ip, port }, peer: { ip: '0.0.0.0', port: 0 }, skmem: {}, users: [{ name: 'app', pid: 7 }] });
const tools = new Tools('/nonexistent');
const pool = { list: () => [], get: () => undefined };

async function run(obs: Observation, o: { config?: ConfigSource; before?: Map<number, RulesetSnapshot>; after?: Map<number, RulesetSnapshot>; standalone?: boolean; qdiscs?: Map<number, QdiscInfo[]> } = {}) {
  obs.startMs = 0;
  obs.endMs = 5000;
  return diagnose({
    obs, pool, tools, rulesBefore: o.before ?? new Map(), rulesAfter: o.after ?? new Map(), qdiscs: o.qdiscs ?? new Map(), notChecked: new Map(), unreadable: new Map(), untraced: [],
    hostWideStandalone: o.standalone ?? false, configFor: () => o.config ?? cfg(), namespaces: new Map([[NS, { inode: NS, name: 'web', self: false }]]),
  });
}

describe('corrections of misleading reasons', () => {
  it('NO_SOCKET at cookie_v4_check with a listener on that port and ListenOverflows: a listen-queue overflow, not a missing listener', async () => {
    const obs = new Observation();
    for (let i = 0; i < 40; i++) obs.add(drop({ reason: 'NO_SOCKET', sym: 'cookie_v4_check', proto: 'tcp', src: ['10.0.0.1', 40000 + i], dst: ['10.0.0.2', 8080] }));
    counters(obs, NS, { 'TcpExt.ListenOverflows': 42, 'TcpExt.ListenDrops': 42, 'TcpExt.SyncookiesFailed': 40 });
    const fs = await run(obs, { config: cfg({ sockets: [listener('0.0.0.0', 8080, 2, 1)], sysctls: { 'net.ipv4.tcp_syncookies': '1', 'net.core.somaxconn': '4096' } }) });
    expect(fs.map((f) => f.cause)).toEqual(['listen-queue-overflow']);
    const f = fs[0];
    expect(f.flow).toMatchObject({ netns: NS, transport: 'tcp', dst: { ip: '10.0.0.2', port: 8080 }, src: { ip: '10.0.0.1' }, direction: 'ingress' });
    expect(f.summary).toMatch(/40 of them reported as NO_SOCKET although the listener exists/);
    expect(f.lost).toBe(42);
    expect(f.evidence.find((e) => e.kind === 'socket')!.value).toBe('accept queue 2/1');
  });

  it('syncookies off: ListenDrops with no drop record at all is still a finding (counter-only), on the full listener', async () => {
    const obs = new Observation();
    counters(obs, NS, { 'TcpExt.ListenOverflows': 174, 'TcpExt.ListenDrops': 174 });
    const fs = await run(obs, { config: cfg({ sockets: [listener('10.0.0.2', 9000, 2, 1), listener('0.0.0.0', 22, 0, 128)], sysctls: { 'net.ipv4.tcp_syncookies': '0' } }) });
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({ cause: 'listen-queue-overflow', lost: 174, confidence: 'high' });
    expect(fs[0].flow!.dst).toEqual({ ip: '10.0.0.2', port: 9000 });
    expect(fs[0].summary).toMatch(/no drop reason: syncookies are off/);
  });

  it('NETFILTER_DROP at nf_hook_slow with conntrack\'s drop counter: table full, not a rule', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'NETFILTER_DROP', sym: 'nf_hook_slow', proto: 'tcp', src: ['10.0.0.1', 1234], dst: ['10.0.0.2', 443], count: 30 }));
    counters(obs, NS, { 'nf_conntrack.drop': 30 });
    const fs = await run(obs, { config: cfg({ sysctls: { 'net.netfilter.nf_conntrack_max': '65536', 'net.netfilter.nf_conntrack_count': '65536' } }) });
    expect(fs.map((f) => f.cause)).toEqual(['conntrack-table-full']);
    expect(fs[0].severity).toBe('high');
    expect(fs[0].summary).toMatch(/65536 of 65536 entries/);
  });

  it('duplicates/TCP_OLD_DATA at the receiver, retransmits at the sender, no holes: ACK-path loss on the other direction', async () => {
    const obs = new Observation();
    obs.add(tcp(NS, 'tcp-retransmit', 'rto', ['10.0.0.1', 5000], ['10.0.0.2', 80], 12));
    obs.add(tcp(NS2, 'tcp-incoming-duplicate', 'duplicate', ['10.0.0.1', 5000], ['10.0.0.2', 80], 9));
    obs.add(drop({ ns: NS2, reason: 'TCP_OLD_DATA', sym: 'tcp_data_queue', proto: 'tcp', src: ['10.0.0.1', 5000], dst: ['10.0.0.2', 80], count: 3 }));
    counters(obs, NS2, { 'TcpExt.DelayedACKLost': 12 });
    const fs = await run(obs);
    expect(fs.map((f) => f.cause)).toEqual(['ack-path-loss']);
    expect(fs[0].flow).toMatchObject({ src: { ip: '10.0.0.2', port: 80 }, dst: { ip: '10.0.0.1', port: 5000 }, netns: NS2, direction: 'egress' });
    expect(fs[0].evidence.find((e) => e.name === 'TcpExt.DelayedACKLost')!.delta).toBe(12);
  });

  it('holes at the receiver with retransmits at the sender: path loss in the data direction', async () => {
    const obs = new Observation();
    obs.add(tcp(NS, 'tcp-retransmit', 'fast', ['10.0.0.1', 5000], ['10.0.0.2', 80], 20));
    obs.add(tcp(NS2, 'tcp-incoming-out-of-order', 'out-of-order', ['10.0.0.1', 5000], ['10.0.0.2', 80], 15));
    obs.add(tcp(NS2, 'tcp-incoming-retransmit', 'retransmit', ['10.0.0.1', 5000], ['10.0.0.2', 80], 18));
    const fs = await run(obs);
    expect(fs.map((f) => f.cause)).toEqual(['path-loss']);
    expect(fs[0]).toMatchObject({ confidence: 'high', flow: { src: { ip: '10.0.0.1', port: 5000 }, dst: { ip: '10.0.0.2', port: 80 }, netns: NS, direction: 'egress' } });
  });

  it('retransmits of segments a local rule drops are that rule\'s symptom, not path loss', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'NETFILTER_DROP', sym: 'nft_do_chain', proto: 'tcp', src: ['10.0.0.1', 5000], dst: ['10.0.0.2', 80], count: 10 }));
    obs.add(tcp(NS2, 'tcp-retransmit', 'fast', ['10.0.0.1', 5000], ['10.0.0.2', 80], 10));
    const fs = await run(obs);
    expect(fs.map((f) => f.cause)).toEqual(['firewall-rule']);
  });

  it('a single spurious retransmit is not a finding', async () => {
    const obs = new Observation();
    obs.add(tcp(NS, 'tcp-retransmit', 'tlp', ['10.0.0.1', 5000], ['10.0.0.2', 80], 1));
    obs.add(tcp(NS2, 'tcp-incoming-duplicate', 'duplicate', ['10.0.0.1', 5000], ['10.0.0.2', 80], 1));
    expect(await run(obs)).toEqual([]);
  });
});

describe('firewall rules', () => {
  const snap = (rules: NfRule[], policy = 'accept'): RulesetSnapshot => ({
    at: 0, sources: ['nft'], missing: [],
    ruleset: { rules, chains: [{ backend: 'nft', family: 'inet', table: 'f', name: 'in', hook: 'input', policy }] },
  });
  const r = (packets: number, o: Partial<NfRule> = {}): NfRule => ({
    backend: 'nft', family: 'inet', table: 'f', chain: 'in', handle: '4', comment: 'block \u001b[31mme', packets, verdict: 'drop', targets: [], hooks: ['input'],
    conds: [{ field: 'dport', negate: false, values: [{ eq: 4300 }] }], text: 'udp dport 4300 counter drop comment "block \u001b[31mme"', ...o,
  });

  it('a UDP flood from 60 k source ports is one finding naming the rule, with the source-port count', async () => {
    const obs = new Observation();
    for (let i = 0; i < 3000; i++) obs.add(drop({ reason: 'NETFILTER_DROP', sym: 'nft_do_chain', src: ['10.0.0.1', 1024 + i], dst: ['10.0.0.2', 4300], count: 20 }));
    const fs = await run(obs, { before: new Map([[NS, snap([r(0)])]]), after: new Map([[NS, snap([r(60_000)])]]) });
    expect(fs).toHaveLength(1);
    const f = fs[0];
    expect(f).toMatchObject({ cause: 'firewall-rule', lost: 60_000, flows: 3000, sourcePorts: 3000, confidence: 'high', severity: 'critical' });
    expect(f.flow).toMatchObject({ src: { ip: '10.0.0.1' }, dst: { ip: '10.0.0.2', port: 4300 }, transport: 'udp' });
    expect(f.flow!.src.port).toBeUndefined();
    expect(f.rule).toEqual({ ruleset: 'inet/f', category: 'in', id: '4', name: 'block \u001b[31mme', description: 'udp dport 4300 counter drop comment "block \u001b[31mme"' });
    expect(f.summary).toMatch(/3,000 source ports/);
    // Rule comments reach a terminal escaped, the JSON record as data.
    const text = renderFindings(fs, 'header');
    expect(text).not.toMatch(/\u001b/);
    expect(text).toContain('block \\x1b[31mme');
    const rec = findingRecord(f, { host: 'h', startMs: 0, endMs: 5000, windowS: 5 }) as any;
    expect(rec.rule.name).toBe('block \u001b[31mme');
    expect(rec.event).toMatchObject({ kind: 'alert', action: 'diagnosis', dataset: 'droptrace.findings', reason: 'NETFILTER_DROP' });
    expect(rec.droptrace.finding).toMatchObject({ cause: 'firewall-rule', severity: 'critical', flows: 3000, source_ports: 3000 });
  });

  it('no rule counter moved and the input chain drops by default: the policy', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'NETFILTER_DROP', sym: 'nf_hook_slow', src: ['10.0.0.1', 1], dst: ['10.0.0.2', 9], count: 5 }));
    const s = snap([r(0, { verdict: 'accept' })], 'drop');
    const fs = await run(obs, { before: new Map([[NS, s]]), after: new Map([[NS, s]]) });
    expect(fs[0].rule).toMatchObject({ category: 'in', id: 'policy', name: 'policy drop' });
    expect(fs[0].summary).toMatch(/default policy/);
  });

  it('a ct-state-invalid rule is conntrack-invalid', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'NETFILTER_DROP', sym: 'nft_do_chain', proto: 'tcp', src: ['10.0.0.1', 1], dst: ['10.0.0.2', 9], count: 5 }));
    const inv = (n: number) => r(n, { conds: [{ field: 'unknown', negate: false, values: [] }], text: 'ct state invalid counter drop', comment: undefined });
    const fs = await run(obs, { before: new Map([[NS, snap([inv(0)])]]), after: new Map([[NS, snap([inv(5)])]]) });
    expect(fs[0].cause).toBe('conntrack-invalid');
  });
});

describe('counter-only losses, storms and noise', () => {
  it('Udp RcvbufErrors with no traced drop names the socket that dropped', async () => {
    const obs = new Observation();
    counters(obs, NS, { 'Udp.RcvbufErrors': 500, 'Udp.InErrors': 500 });
    const sock: SocketInfo = { proto: 'udp', state: 'UNCONN', recvQ: 8000, sendQ: 0, local: { ip: '0.0.0.0', port: 514 }, peer: { ip: '0.0.0.0', port: 0 }, skmem: { r: 8000, rb: 8192, d: 900 }, users: [] };
    const fs = await run(obs, { config: cfg({ sockets: [sock] }) });
    expect(fs.map((f) => f.cause)).toEqual(['socket-receive-buffer']);
    expect(fs[0].flow!.dst).toEqual({ ip: '0.0.0.0', port: 514 });
    expect(fs[0].lost).toBe(500);
  });

  it('softnet drops (host-wide) make a finding only when the diagnosis covers the whole host', async () => {
    const obs = new Observation();
    counters(obs, NS, { 'softnet.dropped': 50 });
    expect(await run(obs, { standalone: false })).toEqual([]);
    const fs = await run(obs, { standalone: true });
    expect(fs.map((f) => f.cause)).toEqual(['cpu-backlog-overflow']);
  });

  it('a counter far above its baseline with no better cause is a counter-storm', async () => {
    const obs = new Observation();
    const t = new RateTracker({ warmup: 2 });
    let v = 0;
    for (let i = 0; i < 5; i++) t.update({ inode: NS }, [{ name: 'Tcp.OutRsts', source: 'snmp', value: (v += 10) }], i * 1000);
    obs.addCounters(t.update({ inode: NS }, [{ name: 'Tcp.OutRsts', source: 'snmp', value: v + 5000 }], 5000));
    const fs = await run(obs);
    expect(fs.map((f) => f.cause)).toEqual(['counter-storm']);
    expect(fs[0].summary).toMatch(/baseline/);
  });

  it('multicast nobody listens to is noise: one collapsed info finding, ranked last', async () => {
    const obs = new Observation();
    for (let i = 0; i < 5; i++) obs.add(drop({ ns: NS + i, reason: 'NOT_SPECIFIED', sym: 'ip6_mc_input', dst: ['ff02::2'], count: 3 }));
    obs.add(drop({ reason: 'NO_SOCKET', dst: ['224.0.0.251', 5353], src: ['10.0.0.9', 5353] }));
    // An interface coming up: neighbour solicitation before any route exists.
    obs.add(drop({ reason: 'IP_INNOROUTES', dst: ['ff02::1:ffe9:c3f3'], count: 1 }));
    obs.add(drop({ reason: 'NO_SOCKET', dst: ['10.0.0.2', 7], src: ['10.0.0.9', 7], count: 40 }));
    const fs = await run(obs);
    expect(fs.map((f) => f.cause)).toEqual(['no-listener', 'noise']);
    expect(fs[1]).toMatchObject({ severity: 'info', noise: true, lost: 17 });
  });
});

describe('queues', () => {
  const q = (kind: string, options: Record<string, unknown>): QdiscInfo => ({ dev: 'eth0', kind, handle: '8001:', root: true, options, drops: 40, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 });

  it('QDISC_DROP on a shaper: qdisc overflow on that interface, with the qdisc quoted', async () => {
    const obs = new Observation();
    obs.add({ ...drop({ reason: 'QDISC_DROP', sym: '__dev_queue_xmit', dir: 'egress', src: ['10.0.0.1', 9], dst: ['10.0.0.2', 53], count: 40 }), observer: { egress: { interface: { id: '2', name: 'eth0' } } } } as EcsRecord);
    const fs = await run(obs, { qdiscs: new Map([[NS, [q('tbf', { rate: 125000 })]]]) });
    expect(fs.map((f) => f.cause)).toEqual(['qdisc-overflow']);
    expect(fs[0].summary).toMatch(/queue on eth0 \(tbf 8001:\) overflowed/);
  });

  it('a netem qdisc with a loss option drops on purpose: emulated path loss, not an overflow', async () => {
    const obs = new Observation();
    obs.add({ ...drop({ reason: 'QDISC_DROP', sym: 'netem_enqueue', dir: 'egress', src: ['10.0.0.1', 9], dst: ['10.0.0.2', 53], count: 40 }), observer: { egress: { interface: { id: '2', name: 'eth0' } } } } as EcsRecord);
    const fs = await run(obs, { qdiscs: new Map([[NS, [q('netem', { limit: 1000, 'loss-random': { loss: 0.05, correlation: 0 } })]]]) });
    expect(fs.map((f) => f.cause)).toEqual(['path-loss']);
    expect(fs[0].summary).toMatch(/emulated loss: netem on eth0 drops 5%/);
  });
});

describe('reasons and places', () => {
  it('NOT_SPECIFIED at dst_discard_out is a blackhole/prohibit route', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'NOT_SPECIFIED', sym: 'dst_discard_out', dir: 'egress', src: ['10.0.0.1', 9], dst: ['10.9.9.9', 53], count: 20 }));
    const fs = await run(obs);
    expect(fs.map((f) => [f.cause, f.confidence])).toEqual([['no-route', 'medium']]);
  });

  it('a reason with no rule is still a finding, named as the kernel names it, low confidence', async () => {
    const obs = new Observation();
    obs.add(drop({ reason: 'SOME_FUTURE_REASON', sym: 'future_fn', src: ['10.0.0.1', 9], dst: ['10.0.0.2', 53], count: 20 }));
    const fs = await run(obs);
    expect(fs[0]).toMatchObject({ cause: 'unknown', confidence: 'low' });
    expect(fs[0].summary).toMatch(/SOME_FUTURE_REASON at future_fn/);
  });

  it('a SYN-cookie storm without losses: the SYN queue is full (no lost connections claimed)', async () => {
    const obs = new Observation();
    counters(obs, NS, { 'TcpExt.SyncookiesSent': 5000, 'TcpExt.TCPReqQFullDoCookies': 5000 });
    const fs = await run(obs, { config: cfg({ sockets: [listener('0.0.0.0', 443, 0, 4096)] }) });
    expect(fs.map((f) => f.cause)).toEqual(['listen-queue-overflow']);
    expect(fs[0].summary).toMatch(/^SYN queue full/);
    expect(fs[0].lost).toBe(0);
  });
});

describe('helpers', () => {
  it('shq quotes for a POSIX shell only when needed', () => {
    expect(shq('eth0')).toBe('eth0');
    expect(shq("we'ird name")).toBe(`'we'\\''ird name'`);
  });

  it('inNs: ours, named, by member pid', () => {
    expect(inNs({ self: true })).toBe('');
    expect(inNs({ name: 'web 1' })).toBe("ip netns exec 'web 1' ");
    expect(inNs({ memberPid: 42 })).toBe('nsenter -t 42 -n ');
  });
});
