// TCP segments the receiver rejects: stale timestamps (PAWS) — often an ACK
// loop between two ends that disagree —, out-of-window ACK storms, and bad
// checksums (TCP/UDP/IP/ICMP).
import type { Rule } from '../context.js';
import { inNs, severityOf } from '../finding.js';
import { addDropFinding, configEvidence, counterEvidence, dropEvidence, floodPhrase, n, splitBy } from './common.js';

const PAWS = new Set(['TCP_RFC7323_PAWS', 'TCP_RFC7323_PAWS_ACK', 'TCP_RFC7323_TW_PAWS', 'TCP_RFC7323_TSECR']);
const PAWS_COUNTERS = ['TcpExt.PAWSEstab', 'TcpExt.PAWSActive', 'TcpExt.PAWSOldAck', 'TcpExt.PAWSTimewait', 'TcpExt.TSEcrRejected', 'TcpExt.TCPACKSkippedPAWS'];
const PAWS_LOSS = ['TcpExt.PAWSEstab', 'TcpExt.PAWSActive', 'TcpExt.PAWSOldAck', 'TcpExt.PAWSTimewait', 'TcpExt.TSEcrRejected'];

export const paws: Rule = {
  id: 'tcp-timestamps-paws',
  async run(ctx) {
    const groups = ctx.drops((g) => PAWS.has(g.reason));
    const nss = new Set([...groups.map((g) => g.netns), ...ctx.counters(undefined, PAWS_LOSS).filter((c) => c.delta > 0).map((c) => c.netns)]);
    for (const netns of nss) {
      const mine = groups.filter((g) => g.netns === netns);
      const parts = mine.length ? splitBy(mine, (g) => `${g.src.ip}|${g.src.port}|${g.dst.ip}|${g.dst.port}`, 4) : [[]];
      const cs = ctx.counters(netns, PAWS_COUNTERS);
      ctx.claimCounters(cs);
      const storm = cs.some((c) => c.storm);
      // The receiver answers each rejected segment with a duplicate ACK until its rate limit skips them.
      const loop = ctx.delta(netns, 'TcpExt.TCPACKSkippedPAWS') > 0;
      const lost = PAWS_LOSS.reduce((s, c) => s + ctx.delta(netns, c), 0);
      const sys = (await ctx.d.config(netns)?.sysctls()) ?? new Map<string, string>();
      const p = inNs(ctx.ns(netns));
      parts.forEach((part, i) => {
        const f = addDropFinding(ctx, part, {
          cause: 'tcp-timestamps-paws',
          summary: (r) => `${loop ? 'TCP timestamp ACK loop: ' : storm ? 'PAWS storm: ' : ''}${n(Math.max(r.total, i === 0 ? lost : 0))} segments rejected by PAWS (their TCP timestamp is older than one already seen on the connection)${floodPhrase(r)}`,
          explanation: 'PAWS (RFC 7323) drops a segment whose timestamp value is older than the last one accepted on the connection, and answers with a duplicate ACK. Two senders sharing one 4-tuple (NAT or a load balancer mixing backends, a reused TIME-WAIT port from a host with another clock, checkpoint/restore, a middlebox rewriting timestamps) make every segment of one of them "old": the receiver drops it and ACKs, the other side answers — an ACK loop (TcpExt PAWSEstab, TCPACKSkippedPAWS rising together).',
          evidence: [
            ...dropEvidence(ctx, part), ...(i === 0 ? counterEvidence(ctx, cs) : []),
            ...configEvidence('net.ipv4.tcp_timestamps', sys.get('net.ipv4.tcp_timestamps')),
          ],
          check: [`${p}nstat -az TcpExtPAWSEstab TcpExtTCPACKSkippedPAWS TcpExtPAWSActive`, `${p}tcpdump -ni any -c 20 'tcp[tcpflags] & tcp-ack != 0'${part[0]?.dst.port ? ` and port ${part[0].dst.port}` : ''}   # compare TSval of both directions`],
          fix: [
            { change: 'find what reuses or rewrites the connection\'s timestamps (NAT/load balancer sharing a 4-tuple across hosts, tcp_tw_reuse behind NAT, clock jumps) and fix it there', caveat: 'none' },
            { change: `${p}sysctl -w net.ipv4.tcp_timestamps=0   # last resort`, caveat: 'stops the loop but loses RTT measurement and PAWS protection against wrapped sequence numbers on fast links' },
          ],
          confidence: part.length > 0 ? 'high' : 'medium',
          lost: i === 0 ? lost : 0,
          minSeverity: storm ? 'high' : 'low',
        });
        if (part.length === 0) {
          f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, transport: 'tcp', direction: 'ingress', path: 'local-in' };
          f.flows = 0;
        }
      });
    }
  },
};

const ACKSTORM_COUNTERS = ['TcpExt.TCPACKSkippedSeq', 'TcpExt.TCPACKSkippedChallenge', 'TcpExt.TCPACKSkippedSynRecv', 'TcpExt.TCPACKSkippedFinWait2', 'TcpExt.TCPACKSkippedTimeWait', 'TcpExt.TCPChallengeACK', 'TcpExt.TCPSYNChallenge'];
const SEQ_REASONS = new Set(['TCP_INVALID_SEQUENCE', 'TCP_OLD_SEQUENCE', 'TCP_INVALID_END_SEQUENCE', 'TCP_INVALID_ACK_SEQUENCE', 'TCP_TOO_OLD_ACK', 'TCP_ACK_UNSENT_DATA', 'TCP_OVERWINDOW']);

export const ackStorm: Rule = {
  id: 'ack-storm',
  async run(ctx) {
    const nss = new Set(ctx.counters(undefined, ACKSTORM_COUNTERS).filter((c) => c.storm || (c.delta / ctx.seconds >= c.info.floor)).map((c) => c.netns));
    for (const netns of nss) {
      const cs = ctx.counters(netns, ACKSTORM_COUNTERS);
      ctx.claimCounters(cs);
      const part = ctx.drops((g) => g.netns === netns && SEQ_REASONS.has(g.reason));
      const events = cs.reduce((s, c) => s + c.delta, 0);
      const p = inNs(ctx.ns(netns));
      const f = addDropFinding(ctx, part, {
        cause: 'ack-storm',
        summary: (r) => `ACK storm: ${n(events)} out-of-window/challenge ACK events (rate-limited by the kernel)${r.total ? `, ${n(r.total)} segments dropped as out of window` : ''}${floodPhrase(r)}`,
        explanation: 'The two ends of a connection disagree about its sequence space (a middlebox or NAT mixing connections, a half-dead connection, an injected segment): each answers the other\'s segments with a duplicate/challenge ACK, which the other finds out of window too. The kernel rate-limits these ACKs (TCPACKSkipped*), so the counters, not the traffic, show the loop.',
        evidence: [...dropEvidence(ctx, part), ...counterEvidence(ctx, cs)],
        check: [`${p}nstat -az TcpExtTCPACKSkippedSeq TcpExtTCPChallengeACK TcpExtTCPACKSkippedChallenge`, `${p}ss -tni   # connections with huge unacked/retrans`],
        fix: [{ change: 'find the connection (tcpdump: repeated ACKs with the same seq/ack) and the middlebox rewriting it; resetting the connection ends the loop', caveat: 'raising tcp_invalid_ratelimit only changes how fast the loop spins' }],
        confidence: 'medium',
        lost: 0,
      });
      f.impact = Math.max(f.impact, events / ctx.seconds);
      f.severity = severityOf(f.impact, 'low', 'high');
      if (part.length === 0) {
        f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, transport: 'tcp' };
        f.flows = 0;
      }
    }
  },
};

const CSUM = new Set(['TCP_CSUM', 'UDP_CSUM', 'IP_CSUM', 'ICMP_CSUM', 'SKB_CSUM']);
const CSUM_COUNTERS = ['Tcp.InCsumErrors', 'Udp.InCsumErrors', 'Udp6.InCsumErrors', 'IpExt.InCsumErrors', 'Icmp.InCsumErrors', 'Icmp6.InCsumErrors', 'UdpLite.InCsumErrors'];

export const checksum: Rule = {
  id: 'checksum-error',
  async run(ctx) {
    const groups = ctx.drops((g) => CSUM.has(g.reason));
    const nss = new Set([...groups.map((g) => g.netns), ...ctx.counters(undefined, CSUM_COUNTERS.filter((c) => c.includes('Csum'))).filter((c) => c.delta > 0).map((c) => c.netns)]);
    for (const netns of nss) {
      const mine = groups.filter((g) => g.netns === netns);
      const cs = ctx.counters(netns, CSUM_COUNTERS);
      ctx.claimCounters(cs);
      const lost = cs.filter((c) => c.name.includes('Csum')).reduce((s, c) => s + c.delta, 0);
      const parts = mine.length ? splitBy(mine, (g) => `${g.iif}|${g.transport}|${g.dst.ip}|${g.dst.port}`, 4) : [[]];
      const p = inNs(ctx.ns(netns));
      parts.forEach((part, i) => {
        const dev = part[0]?.iif;
        const f = addDropFinding(ctx, part, {
          cause: 'checksum-error',
          summary: (r) => `${n(Math.max(r.total, i === 0 ? lost : 0))} packets with a bad checksum dropped${dev ? ` (arrived on ${dev})` : ''}${floodPhrase(r)}`,
          explanation: 'The packet\'s checksum did not match its contents, so the kernel dropped it (TCP_CSUM/UDP_CSUM/IP_CSUM, InCsumErrors). Something between the sender and here corrupted it (NIC, cable, memory, a middlebox rewriting headers without fixing checksums), or a sender/virtual device offloads checksums that are never filled in.',
          evidence: [...dropEvidence(ctx, part), ...(i === 0 ? counterEvidence(ctx, cs) : [])],
          check: [...(dev ? [`${p}ethtool -k ${dev} | grep -i checksum`, `${p}ethtool -S ${dev} | grep -Ei 'crc|csum|err'`] : []), `${p}tcpdump -vvni ${dev ?? 'any'} -c 10${part[0]?.dst.port ? ` port ${part[0].dst.port}` : ''}   # "bad cksum"`],
          fix: [
            { change: 'find the corrupting hop: compare captures at sender and receiver; check NIC/cable error counters along the path', caveat: 'none' },
            { change: `${dev ? `${p}ethtool -K ${dev} rx off tx off   ` : ''}# rule out a checksum-offload bug`, caveat: 'costs CPU; revert if it changes nothing' },
          ],
          confidence: 'high',
          lost: i === 0 ? lost : 0,
        });
        if (part.length === 0) {
          f.flow = { netns, netnsName: ctx.ns(netns).name, src: {}, dst: {}, direction: 'ingress' };
          f.flows = 0;
        }
      });
    }
  },
};
