// Connections that find no socket: a listener whose accept queue is full
// (the kernel's ListenOverflows/ListenDrops counters; with syncookies on the
// completing ACKs are dropped as NO_SOCKET at cookie_v4_check although the
// listener exists, with syncookies off the SYNs are freed without any drop
// reason), and genuinely closed ports (NO_SOCKET with no socket bound).
import type { Rule, Ctx } from '../context.js';
import type { DropGroup, TcpGroup, Ep } from '../observe.js';
import { inNs, severityOf, type Evidence, type AffectedFlow } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, rollup, splitBy, tcpEvidence } from './common.js';
import { boundTo, type SocketInfo } from '../../config/sockets.js';
import { isMulticastOrBroadcast } from './noise.js';

const OVERFLOW_COUNTERS = ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDrop', 'TcpExt.TCPReqQFullDoCookies', 'TcpExt.SyncookiesFailed', 'TcpExt.SyncookiesSent', 'TcpExt.SyncookiesRecv', 'TcpExt.TCPFastOpenListenOverflow'];
const LOSS_COUNTERS = ['TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPReqQFullDrop', 'TcpExt.SyncookiesFailed', 'TcpExt.TCPFastOpenListenOverflow'];
/** Where a completing handshake dies when the queue is full (syncookie ACKs, request sockets). */
const HANDSHAKE_LOCATION = /^(cookie_v[46]_check|tcp_check_req|tcp_conn_request|tcp_v[46]_syn_recv_sock|tcp_get_cookie_sock|inet_csk_complete_hashdance)/;

const portOf = (s: SocketInfo) => s.local?.port;

export const listenOverflow: Rule = {
  id: 'listen-queue-overflow',
  async run(ctx) {
    const nss = new Set<number>();
    for (const c of ctx.counters(undefined, LOSS_COUNTERS, true)) if (c.delta > 0) nss.add(c.netns);
    // A SYN queue full enough to need cookies in a storm: a SYN flood or an overloaded listener (no loss yet).
    for (const c of ctx.counters(undefined, ['TcpExt.TCPReqQFullDoCookies', 'TcpExt.SyncookiesSent'], true)) if (c.storm) nss.add(c.netns);
    for (const g of ctx.drops((g) => g.reason === 'TCP_LISTEN_OVERFLOW')) nss.add(g.netns);
    for (const netns of nss) {
      const cfg = ctx.d.config(netns);
      const sockets = (await cfg?.sockets()) ?? [];
      const listeners = sockets.filter((s) => s.proto === 'tcp' && s.state === 'LISTEN');
      const overflowed = LOSS_COUNTERS.some((c) => ctx.delta(netns, c) > 0);
      // Drops that blame a missing socket or the listen queue, on a port that has a listener.
      const groups = ctx.drops((g) => g.netns === netns && g.transport === 'tcp' && (g.reason === 'TCP_LISTEN_OVERFLOW'
        || (g.reason === 'NO_SOCKET' && (HANDSHAKE_LOCATION.test(g.symbol ?? '') || overflowed) && listeners.some((l) => boundTo(l, g.dst.ip, g.dst.port)))));
      const ports = new Set(groups.map((g) => g.dst.port));
      // The listener: the one the drops point at, else one whose accept queue is full now.
      let chosen = listeners.filter((l) => ports.has(portOf(l)));
      if (chosen.length === 0) chosen = listeners.filter((l) => l.sendQ > 0 && l.recvQ >= l.sendQ);
      if (chosen.length === 0) chosen = listeners.filter((l) => l.recvQ > 0);
      const l = chosen.sort((a, b) => b.recvQ - a.recvQ)[0];
      // Client side: SYNs retransmitted toward that port (from any traced namespace), SYN-ACKs retransmitted here.
      const symptoms: TcpGroup[] = l ? ctx.tcp((t) => (t.type === 'syn' && t.dst.port === l.local!.port && (l.local!.ip === '0.0.0.0' || l.local!.ip === '::' || t.dst.ip === l.local!.ip))
        || (t.type === 'synack' && t.netns === netns && t.src.port === l.local!.port)) : [];
      ctx.claim(symptoms);
      const cs = ctx.counters(netns, OVERFLOW_COUNTERS);
      ctx.claimCounters(cs);
      const lostCounted = Math.max(ctx.delta(netns, 'TcpExt.ListenDrops'), ctx.delta(netns, 'TcpExt.ListenOverflows') + ctx.delta(netns, 'TcpExt.TCPReqQFullDrop'));
      const sys = (await cfg?.sysctls()) ?? new Map<string, string>();
      const cookies = sys.get('net.ipv4.tcp_syncookies');
      const p = inNs(ctx.ns(netns));
      const evidence: Evidence[] = [
        ...dropEvidence(ctx, groups),
        ...counterEvidence(ctx, cs),
        ...(l ? [{ kind: 'socket' as const, name: `listener ${l.local!.ip}:${l.local!.port}`, value: `accept queue ${l.recvQ}/${l.sendQ}`, detail: `Recv-Q (waiting for accept) / Send-Q (backlog)${l.users.length ? `; owned by ${l.users.map((u) => `${u.name} (pid ${u.pid})`).join(', ')}` : ''}` }] : []),
        ...tcpEvidence(ctx, symptoms.filter((s) => s.type === 'syn'), 'client SYN retransmits'),
        ...tcpEvidence(ctx, symptoms.filter((s) => s.type === 'synack'), 'SYN-ACK retransmits'),
        ...configEvidence('net.core.somaxconn', sys.get('net.core.somaxconn'), 'upper bound of any listen() backlog'),
        ...configEvidence('net.ipv4.tcp_max_syn_backlog', sys.get('net.ipv4.tcp_max_syn_backlog')),
        ...configEvidence('net.ipv4.tcp_syncookies', cookies, cookies === '0' ? 'off: overflowing SYNs are dropped silently (no drop reason)' : 'on: the listener answers with cookies when the SYN queue is full'),
        ...configEvidence('net.ipv4.tcp_abort_on_overflow', sys.get('net.ipv4.tcp_abort_on_overflow')),
      ];
      if (!cfg || (await cfg.sockets()) === undefined) evidence.push({ kind: 'tool', name: 'ss', value: 'unavailable', detail: 'the listener and its backlog could not be shown' });
      const misleading = groups.filter((g) => g.reason === 'NO_SOCKET').reduce((s, g) => s + g.count, 0);
      const dst: Ep = l ? { ip: l.local!.ip === '0.0.0.0' || l.local!.ip === '::' ? rollupDst(groups) : l.local!.ip, port: l.local!.port } : {};
      const f = addDropFinding(ctx, groups, {
        cause: 'listen-queue-overflow',
        summary: (r) => Math.max(lostCounted, r.total) === 0
          ? `SYN queue full${l ? ` on ${dst.ip ?? '*'}:${l.local!.port}` : ''}: ${n(ctx.delta(netns, 'TcpExt.SyncookiesSent') + ctx.delta(netns, 'TcpExt.TCPReqQFullDoCookies'))} SYNs answered with cookies (a SYN flood, or a listener that cannot keep up); no connection lost yet`
          : `listen queue overflow${l ? ` on ${dst.ip ?? '*'}:${l.local!.port}` : ''}: ${n(Math.max(lostCounted, r.total))} connection attempts dropped because the accept queue was full${misleading ? ` (${n(misleading)} of them reported as NO_SOCKET although the listener exists)` : ''}${cookies === '0' && r.total === 0 ? ' — no drop reason: syncookies are off' : ''}${floodPhrase(r)}`,
        explanation: 'A listening socket holds completed connections until the application calls accept(); the queue is bounded by the listen() backlog (capped by net.core.somaxconn). When it is full the kernel drops the handshake: with syncookies on, the client\'s final ACK cannot be turned into a socket and is dropped as NO_SOCKET at cookie_v4_check/cookie_v6_check — as if nothing listened — and with syncookies off the SYN is freed without any drop reason, visible only in TcpExt ListenOverflows/ListenDrops and as SYN retransmits at the client.',
        evidence,
        check: [`${p}ss -ltn${l ? ` 'sport = :${l.local!.port}'` : ''}   # Recv-Q = waiting for accept(), Send-Q = backlog`, `${p}nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtSyncookiesFailed`],
        fix: [
          { change: 'make the application accept() faster (more acceptor threads/processes, SO_REUSEPORT across workers)', caveat: 'none: the queue only overflows when accepting lags' },
          { change: `raise the listen() backlog in the application and ${p}sysctl -w net.core.somaxconn=4096`, caveat: 'a longer queue adds latency under overload instead of failing fast' },
          { change: `${p}sysctl -w net.ipv4.tcp_syncookies=1 (if off)`, caveat: 'keeps connections working when the SYN queue is full; cookie connections lose some TCP options when timestamps are off' },
        ],
        confidence: groups.length > 0 || lostCounted > 0 ? 'high' : 'medium',
        lost: lostCounted,
        minSeverity: 'medium',
      });
      // The affected flow is the listener's service even when only counters saw it.
      const fl: AffectedFlow = f.flow ?? { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {} };
      fl.dst = dst.port !== undefined ? dst : fl.dst;
      fl.transport = 'tcp';
      fl.direction = 'ingress';
      fl.path = 'local-in';
      if (groups.length === 0 && symptoms.length > 0) {
        const sr = rollup(ctx, symptoms.filter((s) => s.type === 'syn'));
        if (sr.total > 0) fl.src = sr.flow.src;
      }
      fl.netns = netns;
      fl.netnsName = ctx.ns(netns).name;
      f.flow = fl;
      f.severity = severityOf(f.impact, 'medium');
    }
  },
};

const rollupDst = (gs: DropGroup[]) => {
  const ips = new Set(gs.map((g) => g.dst.ip));
  return ips.size === 1 ? [...ips][0] : undefined;
};

export const noListener: Rule = {
  id: 'no-listener',
  async run(ctx) {
    const groups = ctx.drops((g) => g.reason === 'NO_SOCKET' && !isMulticastOrBroadcast(g.dst.ip) && g.dst.port !== undefined);
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.transport}|${g.dst.ip}|${g.dst.port}`, 6)) {
      const netns = part[0].netns;
      const r = rollup(ctx, part);
      const cfg = ctx.d.config(netns);
      const sockets = await cfg?.sockets();
      const proto = r.flow.transport;
      const port = r.flow.dst.port;
      const onPort = (sockets ?? []).filter((s) => s.proto === proto && s.local?.port === port && (proto !== 'tcp' || s.state === 'LISTEN'));
      const cs = ctx.counters(netns, proto === 'udp' ? ['Udp.NoPorts', 'Udp6.NoPorts', 'Icmp.OutDestUnreachs', 'Icmp6.OutDestUnreachs'] : ['Tcp.OutRsts']);
      ctx.claimCounters(cs);
      const p = inNs(ctx.ns(netns));
      const evidence: Evidence[] = [...dropEvidence(ctx, part), ...counterEvidence(ctx, cs)];
      let note = '';
      if (sockets === undefined) evidence.push({ kind: 'tool', name: 'ss', value: 'unavailable', detail: 'could not check for a socket on the port' });
      else if (onPort.length === 0) evidence.push({ kind: 'socket', name: `${proto} port ${port}`, value: 'no socket', detail: 'nothing bound to this port in this namespace' });
      else {
        note = ` (a socket on port ${port} exists but is bound to ${onPort.map((s) => s.local!.ip).join(', ')})`;
        evidence.push({ kind: 'socket', name: `${proto} port ${port}`, value: onPort.map((s) => `${s.local!.ip}:${s.local!.port} ${s.state}`).join(', '), detail: 'bound to another address (or a reuseport group/BPF selected none)' });
      }
      addDropFinding(ctx, part, {
        cause: 'no-listener',
        summary: (rr) => `nothing listens on ${proto} ${rr.flow.dst.ip ?? '*'}:${port}${note}: ${n(rr.total)} packets dropped${floodPhrase(rr)}`,
        explanation: proto === 'tcp'
          ? 'No socket accepts TCP connections on this address and port in this namespace: the kernel answers the SYN with a reset and drops it (NO_SOCKET). The client sees "connection refused".'
          : 'No socket is bound to this UDP address and port in this namespace: the kernel drops the datagram (NO_SOCKET) and answers with ICMP port unreachable (rate-limited).',
        evidence,
        check: [`${p}ss -ln${proto === 'udp' ? 'u' : 't'}p 'sport = :${port}'`],
        fix: [{ change: `start the service on ${proto}/${port} in this namespace, or point the client at the right address/port/namespace`, caveat: 'if nobody should receive this traffic (scans, stale clients), block it earlier instead' }],
        confidence: onPort.length === 0 && sockets !== undefined ? 'high' : 'medium',
        maxSeverity: 'high',
      });
    }
  },
};
