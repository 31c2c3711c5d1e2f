// Receivers that cannot keep up: a socket's receive buffer (SOCKET_RCVBUFF,
// SOCKET_BACKLOG, TCP_ZEROWINDOW; Udp RcvbufErrors, TcpExt TCPRcvQDrop ...)
// and the host's TCP memory limit (PROTO_MEM; TCPMemoryPressures, tcp_mem).
import type { Rule, Ctx } from '../context.js';
import type { DropGroup } from '../observe.js';
import { inNs, type Evidence } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, splitBy } from './common.js';
import { boundTo, type SocketInfo } from '../../config/sockets.js';

const RCVBUF_REASONS = new Set(['SOCKET_RCVBUFF', 'SOCKET_BACKLOG', 'TCP_ZEROWINDOW', 'TCP_OFO_QUEUE_PRUNE', 'TCP_OFO_DROP']);
const RCVBUF_COUNTERS = ['Udp.RcvbufErrors', 'Udp6.RcvbufErrors', 'UdpLite.RcvbufErrors', 'TcpExt.TCPRcvQDrop', 'TcpExt.TCPBacklogDrop', 'TcpExt.TCPZeroWindowDrop', 'TcpExt.RcvPruned', 'TcpExt.OfoPruned', 'TcpExt.PruneCalled', 'TcpExt.TCPOFODrop'];
const RCVBUF_LOSS = ['Udp.RcvbufErrors', 'Udp6.RcvbufErrors', 'TcpExt.TCPRcvQDrop', 'TcpExt.TCPBacklogDrop', 'TcpExt.TCPZeroWindowDrop', 'TcpExt.RcvPruned', 'TcpExt.OfoPruned', 'TcpExt.TCPOFODrop'];
const MEM_COUNTERS = ['TcpExt.TCPMemoryPressures', 'TcpExt.TCPMemoryPressuresChrono', 'TcpExt.TCPAbortOnMemory', 'TcpExt.PFMemallocDrop', 'Udp.MemErrors', 'Udp6.MemErrors'];

function socketEvidence(s: SocketInfo): Evidence {
  const m = s.skmem;
  return {
    kind: 'socket', name: `${s.proto} socket ${s.local?.ip}:${s.local?.port}${s.peer && s.peer.port ? ` ↔ ${s.peer.ip}:${s.peer.port}` : ''}`,
    value: `receive memory ${m.r ?? '?'} of ${m.rb ?? '?'} bytes, ${m.d ?? 0} dropped`,
    detail: `skmem r/rb (in use / SO_RCVBUF), d = packets this socket dropped${s.users.length ? `; owned by ${s.users.map((u) => `${u.name} (pid ${u.pid})`).join(', ')}` : ''}`,
  };
}

async function affectedSockets(ctx: Ctx, netns: number, groups: DropGroup[]): Promise<SocketInfo[] | undefined> {
  const all = await ctx.d.config(netns)?.sockets();
  if (!all) return undefined;
  const hit = all.filter((s) => s.state !== 'LISTEN' || s.proto === 'udp').filter((s) => groups.some((g) => s.proto === g.transport && boundTo(s, g.dst.ip, g.dst.port) && (!s.peer || !s.peer.port || s.peer.port === g.src.port)));
  // Counter-only: the sockets that dropped something.
  return (hit.length ? hit : all.filter((s) => (s.skmem.d ?? 0) > 0)).sort((a, b) => (b.skmem.d ?? 0) - (a.skmem.d ?? 0)).slice(0, 3);
}

export const tcpMemory: Rule = {
  id: 'tcp-memory-pressure',
  async run(ctx) {
    const nss = new Set<number>();
    for (const c of ctx.counters(undefined, MEM_COUNTERS, true)) if (c.delta > 0) nss.add(c.netns);
    for (const g of ctx.drops((g) => g.reason === 'PROTO_MEM')) nss.add(g.netns);
    for (const netns of nss) {
      const groups = ctx.drops((g) => g.netns === netns && g.reason === 'PROTO_MEM');
      const cs = ctx.counters(netns, [...MEM_COUNTERS, 'TcpExt.PruneCalled', 'TcpExt.RcvPruned', 'TcpExt.TCPRcvQDrop', 'TcpExt.TCPOFODrop']);
      ctx.claimCounters(cs);
      const udp = groups.length > 0 && groups.every((g) => g.transport === 'udp') || (groups.length === 0 && ctx.delta(netns, 'Udp.MemErrors') + ctx.delta(netns, 'Udp6.MemErrors') > 0 && ctx.delta(netns, 'TcpExt.TCPMemoryPressures') === 0);
      const cfg = ctx.d.config(netns);
      const sys = (await cfg?.sysctls()) ?? new Map<string, string>();
      const st = cfg?.sockstat() ?? new Map<string, number>();
      const limit = sys.get(udp ? 'net.ipv4.udp_mem' : 'net.ipv4.tcp_mem');
      const used = st.get(udp ? 'UDP.mem' : 'TCP.mem');
      const p = inNs(ctx.ns(netns));
      const lost = ctx.delta(netns, 'TcpExt.TCPAbortOnMemory') + ctx.delta(netns, 'TcpExt.PFMemallocDrop') + ctx.delta(netns, 'Udp.MemErrors') + ctx.delta(netns, 'Udp6.MemErrors') + ctx.delta(netns, 'TcpExt.RcvPruned');
      const f = addDropFinding(ctx, groups, {
        cause: udp ? 'socket-receive-buffer' : 'tcp-memory-pressure',
        summary: (r) => `${udp ? 'UDP' : 'TCP'} memory limit reached: ${n(Math.max(r.total, lost))} packets dropped because all ${udp ? 'UDP' : 'TCP'} sockets together exceeded ${udp ? 'udp_mem' : 'tcp_mem'}${used !== undefined ? ` (${used} pages in use${limit ? `; limit ${limit}` : ''})` : ''}${floodPhrase(r)}`,
        explanation: udp
          ? 'UDP sockets host-wide may use at most net.ipv4.udp_mem pages; beyond the third value every socket\'s receive is refused (PROTO_MEM, Udp MemErrors) whatever its own buffer.'
          : 'TCP sockets host-wide share net.ipv4.tcp_mem (pages: low, pressure, high). Above "pressure" the kernel shrinks buffers and prunes queues; at "high" it drops incoming segments (PROTO_MEM) and may abort connections — usually many sockets with full buffers (slow readers) or a limit set too low.',
        evidence: [
          ...dropEvidence(ctx, groups), ...counterEvidence(ctx, cs),
          ...configEvidence(udp ? 'net.ipv4.udp_mem' : 'net.ipv4.tcp_mem', limit, 'pages: low pressure high (host-wide)'),
          ...(used !== undefined ? [{ kind: 'config' as const, name: udp ? 'sockstat UDP mem' : 'sockstat TCP mem', value: used, detail: 'pages in use now (/proc/net/sockstat)' }] : []),
        ],
        check: [`cat /proc/sys/net/ipv4/${udp ? 'udp_mem' : 'tcp_mem'} /proc/net/sockstat`, `${p}ss -${udp ? 'u' : 't'}anm | sort -t, -k1 | head   # sockets holding the most memory`],
        fix: [
          { change: `raise ${udp ? 'net.ipv4.udp_mem' : 'net.ipv4.tcp_mem'} (sysctl -w, initial namespace)`, caveat: 'more kernel memory for socket buffers host-wide; set it from the RAM you can spare' },
          { change: 'find and fix the slow readers holding memory (ss -m: large r values)', caveat: 'none' },
        ],
        confidence: groups.length > 0 ? 'high' : 'medium',
        lost,
        minSeverity: 'medium',
      });
      if (!f.flow || groups.length === 0) f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, transport: udp ? 'udp' : 'tcp', direction: 'ingress', path: 'local-in' };
    }
  },
};

export const receiveBuffer: Rule = {
  id: 'socket-receive-buffer',
  async run(ctx) {
    const groups = ctx.drops((g) => RCVBUF_REASONS.has(g.reason));
    const handled = new Set<number>();
    for (const part of splitBy(groups, (g) => `${g.netns}|${g.transport}|${g.dst.ip}|${g.dst.port}`, 6)) {
      const netns = part[0].netns;
      handled.add(netns);
      await emit(ctx, netns, part);
    }
    // Counter-only: buffers overflowed where no drop was traced (filtered, or no drop reason).
    const nss = new Set(ctx.counters(undefined, RCVBUF_LOSS).filter((c) => c.delta > 0).map((c) => c.netns));
    for (const netns of nss) if (!handled.has(netns)) await emit(ctx, netns, []);
  },
};

async function emit(ctx: Ctx, netns: number, part: DropGroup[]): Promise<void> {
  const cs = ctx.counters(netns, RCVBUF_COUNTERS);
  ctx.claimCounters(cs);
  const lost = RCVBUF_LOSS.reduce((s, c) => s + ctx.delta(netns, c), 0);
  const socks = await affectedSockets(ctx, netns, part);
  const sys = (await ctx.d.config(netns)?.sysctls()) ?? new Map<string, string>();
  const tcp = part.length ? part[0].transport === 'tcp' : cs.some((c) => c.name.startsWith('TcpExt') && c.delta > 0);
  const p = inNs(ctx.ns(netns));
  const s0 = socks?.[0];
  const f = addDropFinding(ctx, part, {
    cause: 'socket-receive-buffer',
    summary: (r) => `receive buffer full${s0 ? ` on ${s0.proto} ${s0.local?.ip}:${s0.local?.port}` : ''}: ${n(Math.max(r.total, lost))} packets dropped because the application did not read fast enough${floodPhrase(r)}`,
    explanation: tcp
      ? 'A TCP socket\'s receive queue (SO_RCVBUF, autotuned within net.ipv4.tcp_rmem) was full: the application reads slower than data arrives. TCP normally closes the window first; drops here mean the sender overran it or memory had to be pruned.'
      : 'A UDP socket\'s receive buffer (SO_RCVBUF, default net.core.rmem_default, at most net.core.rmem_max) was full when the datagram arrived, so the kernel dropped it (SOCKET_RCVBUFF, Udp RcvbufErrors). The application reads slower than the sender sends.',
    evidence: [
      ...dropEvidence(ctx, part), ...counterEvidence(ctx, cs),
      ...(socks ?? []).map(socketEvidence),
      ...configEvidence('net.core.rmem_default', sys.get('net.core.rmem_default')),
      ...configEvidence('net.core.rmem_max', sys.get('net.core.rmem_max'), 'largest SO_RCVBUF an application may ask for'),
      ...(tcp ? configEvidence('net.ipv4.tcp_rmem', sys.get('net.ipv4.tcp_rmem'), 'min default max (autotuning)') : []),
      ...(socks === undefined ? [{ kind: 'tool' as const, name: 'ss', value: 'unavailable', detail: 'the socket and its buffer could not be shown' }] : []),
    ],
    check: [`${p}ss -${tcp ? 't' : 'u'}anmp${s0?.local ? ` 'sport = :${s0.local.port}'` : ''}   # skmem: r (queued) vs rb (buffer), d (drops)`, `${p}nstat -az ${tcp ? 'TcpExtTCPRcvQDrop TcpExtTCPBacklogDrop' : 'UdpRcvbufErrors Udp6RcvbufErrors'}`],
    fix: [
      { change: 'make the application read faster (more reader threads, SO_REUSEPORT sockets, recvmmsg batching)', caveat: 'none: the buffer only fills when reading lags' },
      { change: `give the socket a larger buffer: setsockopt(SO_RCVBUF) up to net.core.rmem_max (${p}sysctl -w net.core.rmem_max=<bytes> to allow more)`, caveat: 'absorbs bursts only; more kernel memory per socket; a steadily slow reader still overflows' },
    ],
    confidence: part.length > 0 || lost > 0 ? 'high' : 'medium',
    lost,
  });
  if (part.length === 0) {
    f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: s0?.local ? { ip: s0.local.ip, port: s0.local.port } : {}, transport: s0?.proto ?? (tcp ? 'tcp' : 'udp'), direction: 'ingress', path: 'local-in' };
    f.flows = socks?.length ?? 0;
  }
}
