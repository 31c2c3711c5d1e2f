// The loss-related kernel counters droptrace watches, each explained in one
// line of plain words, with the rate (per second) that counts as a storm when
// there is no history to compare with (`floor`) and the finding cause it
// points to. `droptrace counters --list` prints this table (the documentation).
// Counter names are those of this kernel family (6.x); one that a kernel does
// not have is simply never sampled.
import type { CounterSource } from './parse.js';

export interface CounterInfo {
  meaning: string;
  /** Events/s: at or above it with no baseline, or far above the baseline, is a storm. */
  floor: number;
  /** The cause id (design.md vocabulary) this counter is evidence for. */
  cause?: string;
  /** True when each increment is a packet the kernel lost (used for counter-only findings). */
  loss?: boolean;
  /** A sum of other counters (Udp InErrors = RcvbufErrors + InCsumErrors + ...): an echo where those are explained. */
  aggregate?: boolean;
  /** Causes this counter also rises with (ICMP errors sent for closed ports, ...): an echo where one of them is found. */
  echoOf?: readonly string[];
}

type Row = [name: string, floor: number, cause: string | undefined, loss: boolean, meaning: string];

const ROWS: Row[] = [
  // IPv4 (snmp Ip:, netstat IpExt:)
  ['Ip.InHdrErrors', 10, 'ip-header-error', true, 'IPv4 packets dropped for a bad header (version, length, options) or an expired TTL while forwarding'],
  ['Ip.InAddrErrors', 10, 'invalid-address', true, 'IPv4 packets for an address that is not valid here (forwarding off, martian)'],
  ['Ip.InUnknownProtos', 10, 'unknown', true, 'IPv4 packets for a protocol nothing here handles'],
  ['Ip.InDiscards', 10, 'unknown', true, 'IPv4 packets discarded on input although valid (no memory, policy)'],
  ['Ip.OutDiscards', 10, 'unknown', true, 'IPv4 packets discarded on output although valid (no memory, policy)'],
  ['Ip.OutNoRoutes', 1, 'no-route', true, 'locally generated IPv4 packets with no route to their destination'],
  ['Ip.ReasmFails', 1, 'mtu-fragmentation', true, 'IPv4 fragment reassemblies that failed (missing fragments, timeout)'],
  ['Ip.ReasmTimeout', 1, 'mtu-fragmentation', true, 'IPv4 reassemblies abandoned because a fragment never came'],
  ['Ip.FragFails', 1, 'mtu-fragmentation', true, 'IPv4 packets that needed fragmenting but had DF set (or could not be fragmented)'],
  ['IpExt.InNoRoutes', 1, 'no-route', true, 'received IPv4 packets with no route to forward them on'],
  ['IpExt.InTruncatedPkts', 1, 'ip-header-error', true, 'IPv4 packets shorter than their header says (truncated on the wire)'],
  ['IpExt.InCsumErrors', 1, 'checksum-error', true, 'IPv4 headers with a bad checksum'],
  ['IpExt.ReasmOverlaps', 1, 'mtu-fragmentation', true, 'IPv4 fragments that overlap (dropped: attack or broken sender)'],
  // ICMP
  ['Icmp.InErrors', 10, undefined, false, 'ICMP messages received with errors'],
  ['Icmp.InCsumErrors', 1, 'checksum-error', true, 'ICMP messages with a bad checksum'],
  ['Icmp.OutErrors', 10, 'unknown', true, 'ICMP messages not sent because of an error'],
  ['Icmp.OutDestUnreachs', 50, 'no-listener', false, 'ICMP destination-unreachable sent (closed UDP port, no route, filtered)'],
  ['Icmp.InDestUnreachs', 50, undefined, false, 'ICMP destination-unreachable received (a peer could not deliver our packets)'],
  ['Icmp.OutRateLimitGlobal', 10, undefined, false, 'ICMP replies suppressed by the global ICMP rate limit (icmp_msgs_per_sec)'],
  ['Icmp.OutRateLimitHost', 10, undefined, false, 'ICMP replies suppressed by the per-host ICMP rate limit (icmp_ratelimit)'],
  // TCP (snmp Tcp:)
  ['Tcp.RetransSegs', 200, 'path-loss', false, 'TCP segments retransmitted (loss, or a timer that fired too early)'],
  ['Tcp.InErrs', 10, undefined, false, 'TCP segments received in error (bad checksum, bad header)'],
  ['Tcp.InCsumErrors', 1, 'checksum-error', true, 'TCP segments with a bad checksum'],
  ['Tcp.OutRsts', 100, 'no-listener', false, 'TCP resets sent (closed port, aborted connection)'],
  ['Tcp.AttemptFails', 50, undefined, false, 'TCP connection attempts that failed (SYN-SENT/SYN-RECV back to CLOSED/LISTEN)'],
  ['Tcp.EstabResets', 50, undefined, false, 'established TCP connections reset'],
  // UDP
  ['Udp.NoPorts', 10, 'no-listener', true, 'UDP datagrams to a port with no socket'],
  ['Udp.InErrors', 10, undefined, false, 'UDP datagrams not delivered (buffer full, bad checksum, ...)'],
  ['Udp.RcvbufErrors', 1, 'socket-receive-buffer', true, 'UDP datagrams dropped because the socket receive buffer was full'],
  ['Udp.SndbufErrors', 1, 'socket-send-buffer', true, 'UDP sends that failed for lack of send buffer (or a device error)'],
  ['Udp.InCsumErrors', 1, 'checksum-error', true, 'UDP datagrams with a bad checksum'],
  ['Udp.MemErrors', 1, 'socket-receive-buffer', true, 'UDP datagrams dropped because UDP memory (udp_mem) was exhausted'],
  ['UdpLite.RcvbufErrors', 1, 'socket-receive-buffer', true, 'UDP-Lite datagrams dropped because the socket receive buffer was full'],
  ['UdpLite.InCsumErrors', 1, 'checksum-error', true, 'UDP-Lite datagrams with a bad checksum'],
  // TCP extended (netstat TcpExt:)
  ['TcpExt.SyncookiesSent', 10, 'listen-queue-overflow', false, 'SYN cookies sent because a SYN queue was full'],
  ['TcpExt.SyncookiesRecv', 10, 'listen-queue-overflow', false, 'valid SYN cookies received (connections made without a SYN-queue slot)'],
  ['TcpExt.SyncookiesFailed', 10, 'listen-queue-overflow', true, 'ACKs with an invalid SYN cookie (often: the listener overflowed)'],
  ['TcpExt.EmbryonicRsts', 50, undefined, false, 'resets received for connections still in SYN-RECV'],
  ['TcpExt.PruneCalled', 10, 'socket-receive-buffer', false, 'receive queues pruned because a socket exceeded its buffer (or TCP memory pressure)'],
  ['TcpExt.RcvPruned', 1, 'socket-receive-buffer', true, 'TCP segments dropped from a receive queue after pruning failed'],
  ['TcpExt.OfoPruned', 1, 'socket-receive-buffer', true, 'out-of-order TCP segments dropped to free memory'],
  ['TcpExt.OutOfWindowIcmps', 10, undefined, true, 'ICMP errors dropped because they referred to data outside the window'],
  ['TcpExt.LockDroppedIcmps', 10, undefined, true, 'ICMP errors dropped because the socket was busy'],
  ['TcpExt.PAWSActive', 5, 'tcp-timestamps-paws', true, 'SYN-ACKs dropped by PAWS (timestamp older than the last one seen)'],
  ['TcpExt.PAWSEstab', 10, 'tcp-timestamps-paws', true, 'segments of established connections dropped by PAWS (stale TCP timestamp)'],
  ['TcpExt.PAWSOldAck', 10, 'tcp-timestamps-paws', true, 'old ACKs dropped by PAWS'],
  ['TcpExt.PAWSTimewait', 10, 'tcp-timestamps-paws', true, 'segments to TIME-WAIT sockets dropped by PAWS'],
  ['TcpExt.TSEcrRejected', 10, 'tcp-timestamps-paws', true, 'segments dropped because their timestamp echo reply was invalid'],
  ['TcpExt.BeyondWindow', 10, undefined, true, 'segments dropped because they lay beyond the receive window'],
  ['TcpExt.DelayedACKLost', 50, 'ack-path-loss', false, 'data received again that had been ACKed: our ACK was lost (or the peer timed out early)'],
  ['TcpExt.ListenOverflows', 1, 'listen-queue-overflow', true, 'connections dropped because a listener\'s accept queue was full'],
  ['TcpExt.ListenDrops', 1, 'listen-queue-overflow', true, 'SYNs/connections dropped at a listening socket (overflows and other failures)'],
  ['TcpExt.TCPLostRetransmit', 10, 'path-loss', false, 'retransmitted segments that were lost again'],
  ['TcpExt.TCPFastRetrans', 100, 'path-loss', false, 'fast retransmits (duplicate ACKs/SACK showed a loss)'],
  ['TcpExt.TCPSlowStartRetrans', 50, 'path-loss', false, 'retransmits in slow start after a timeout'],
  ['TcpExt.TCPTimeouts', 20, 'path-loss', false, 'TCP retransmission timeouts (RTO) fired'],
  ['TcpExt.TCPLossProbes', 100, 'path-loss', false, 'tail loss probes sent'],
  ['TcpExt.TCPSynRetrans', 10, 'listen-queue-overflow', false, 'SYNs retransmitted (the peer did not answer: filtered, overloaded listener, no route)'],
  ['TcpExt.TCPSpuriousRTOs', 10, 'ack-path-loss', false, 'retransmission timeouts found to be unnecessary (ACKs late or lost)'],
  ['TcpExt.TCPDSACKRecv', 50, 'ack-path-loss', false, 'D-SACKs received: the peer got data twice, our retransmit was unnecessary'],
  ['TcpExt.TCPDSACKOldSent', 50, 'ack-path-loss', false, 'D-SACKs sent for old data received again (the sender did not see our ACK)'],
  ['TcpExt.TCPDSACKOfoSent', 50, undefined, false, 'D-SACKs sent for out-of-order data received twice'],
  ['TcpExt.TCPAbortOnData', 50, undefined, false, 'connections reset because data arrived after close'],
  ['TcpExt.TCPAbortOnMemory', 0.1, 'tcp-memory-pressure', true, 'connections aborted because TCP memory (tcp_mem) was exhausted'],
  ['TcpExt.TCPAbortOnTimeout', 1, 'path-loss', false, 'connections aborted after too many retransmission timeouts'],
  ['TcpExt.TCPAbortFailed', 1, undefined, false, 'resets that could not be sent'],
  ['TcpExt.TCPMemoryPressures', 0.1, 'tcp-memory-pressure', false, 'times TCP entered memory pressure (tcp_mem second threshold)'],
  ['TcpExt.TCPMemoryPressuresChrono', 1, 'tcp-memory-pressure', false, 'milliseconds spent in TCP memory pressure'],
  ['TcpExt.TCPBacklogDrop', 1, 'socket-receive-buffer', true, 'segments dropped because a busy socket\'s backlog was full'],
  ['TcpExt.PFMemallocDrop', 1, 'tcp-memory-pressure', true, 'segments dropped: allocated from emergency memory for a socket not allowed to use it'],
  ['TcpExt.TCPMinTTLDrop', 10, 'firewall-rule', true, 'segments dropped by a socket\'s IP_MINTTL'],
  ['TcpExt.TCPDeferAcceptDrop', 10, undefined, false, 'connections dropped by TCP_DEFER_ACCEPT (no data came)'],
  ['TcpExt.IPReversePathFilter', 1, 'reverse-path-filter', true, 'packets dropped by the reverse-path filter (rp_filter)'],
  ['TcpExt.TCPTimeWaitOverflow', 1, undefined, false, 'TIME-WAIT sockets not created: tcp_max_tw_buckets reached'],
  ['TcpExt.TCPReqQFullDoCookies', 1, 'listen-queue-overflow', false, 'SYN queue full: answered with a SYN cookie'],
  ['TcpExt.TCPReqQFullDrop', 1, 'listen-queue-overflow', true, 'SYN queue full: SYN dropped (syncookies off)'],
  ['TcpExt.TCPRetransFail', 1, 'qdisc-overflow', false, 'retransmits the stack could not send (queue or device refused)'],
  ['TcpExt.TCPOFODrop', 1, 'socket-receive-buffer', true, 'out-of-order segments dropped (no receive memory)'],
  ['TcpExt.TCPChallengeACK', 50, 'ack-storm', false, 'challenge ACKs sent (RFC 5961: suspicious RST/SYN)'],
  ['TcpExt.TCPSYNChallenge', 10, 'ack-storm', false, 'challenge ACKs sent in answer to a SYN on an established connection'],
  ['TcpExt.TCPFastOpenListenOverflow', 1, 'listen-queue-overflow', true, 'Fast Open requests refused: the TFO queue was full'],
  ['TcpExt.TCPSpuriousRtxHostQueues', 10, 'qdisc-overflow', false, 'retransmits not sent because the original was still queued on this host'],
  ['TcpExt.TCPACKSkippedSynRecv', 10, 'ack-storm', false, 'ACKs not sent (rate limit) to out-of-window segments in SYN-RECV'],
  ['TcpExt.TCPACKSkippedPAWS', 10, 'tcp-timestamps-paws', false, 'duplicate ACKs not sent (rate limit) in answer to PAWS-rejected segments: a timestamp ACK loop'],
  ['TcpExt.TCPACKSkippedSeq', 10, 'ack-storm', false, 'duplicate ACKs not sent (rate limit) in answer to out-of-window segments: an ACK loop'],
  ['TcpExt.TCPACKSkippedFinWait2', 10, 'ack-storm', false, 'ACKs not sent (rate limit) to out-of-window segments in FIN-WAIT-2'],
  ['TcpExt.TCPACKSkippedTimeWait', 10, 'ack-storm', false, 'ACKs not sent (rate limit) to out-of-window segments in TIME-WAIT'],
  ['TcpExt.TCPACKSkippedChallenge', 10, 'ack-storm', false, 'challenge ACKs not sent (rate limit)'],
  ['TcpExt.TCPZeroWindowDrop', 1, 'socket-receive-buffer', true, 'segments dropped because the receive window was zero (application not reading)'],
  ['TcpExt.TCPRcvQDrop', 1, 'socket-receive-buffer', true, 'segments dropped because the receive queue was full'],
  ['TcpExt.TCPWqueueTooBig', 1, 'socket-send-buffer', false, 'sends refused because the write queue was too big'],
  ['TcpExt.TCPMD5NotFound', 1, undefined, true, 'segments dropped: TCP-MD5 expected but missing'],
  ['TcpExt.TCPMD5Unexpected', 1, undefined, true, 'segments dropped: TCP-MD5 present but not expected'],
  ['TcpExt.TCPMD5Failure', 1, undefined, true, 'segments dropped: TCP-MD5 signature wrong'],
  ['TcpExt.TCPAOBad', 1, undefined, true, 'segments dropped: TCP-AO signature wrong'],
  // IPv6 (snmp6)
  ['Ip6.InHdrErrors', 10, 'ip-header-error', true, 'IPv6 packets dropped for a bad header or an expired hop limit'],
  ['Ip6.InTooBigErrors', 1, 'mtu-fragmentation', true, 'IPv6 packets too big to forward (Packet Too Big sent)'],
  ['Ip6.InNoRoutes', 1, 'no-route', true, 'received IPv6 packets with no route to forward them on'],
  ['Ip6.InAddrErrors', 10, 'invalid-address', true, 'IPv6 packets for an address that is not valid here'],
  ['Ip6.InUnknownProtos', 10, 'unknown', true, 'IPv6 packets for a protocol nothing here handles'],
  ['Ip6.InTruncatedPkts', 1, 'ip-header-error', true, 'IPv6 packets shorter than their header says'],
  ['Ip6.InDiscards', 10, 'unknown', true, 'IPv6 packets discarded on input although valid'],
  ['Ip6.OutDiscards', 10, 'unknown', true, 'IPv6 packets discarded on output although valid'],
  ['Ip6.OutNoRoutes', 1, 'no-route', true, 'locally generated IPv6 packets with no route'],
  ['Ip6.ReasmFails', 1, 'mtu-fragmentation', true, 'IPv6 fragment reassemblies that failed'],
  ['Ip6.FragFails', 1, 'mtu-fragmentation', true, 'IPv6 packets that could not be fragmented'],
  ['Icmp6.InErrors', 10, undefined, false, 'ICMPv6 messages received with errors'],
  ['Icmp6.InCsumErrors', 1, 'checksum-error', true, 'ICMPv6 messages with a bad checksum'],
  ['Icmp6.OutErrors', 10, 'unknown', true, 'ICMPv6 messages not sent because of an error'],
  ['Icmp6.OutDestUnreachs', 50, 'no-listener', false, 'ICMPv6 destination-unreachable sent'],
  ['Udp6.NoPorts', 10, 'no-listener', true, 'UDP/IPv6 datagrams to a port with no socket'],
  ['Udp6.InErrors', 10, undefined, false, 'UDP/IPv6 datagrams not delivered (buffer full, bad checksum, ...)'],
  ['Udp6.RcvbufErrors', 1, 'socket-receive-buffer', true, 'UDP/IPv6 datagrams dropped because the socket receive buffer was full'],
  ['Udp6.SndbufErrors', 1, 'socket-send-buffer', true, 'UDP/IPv6 sends that failed for lack of send buffer'],
  ['Udp6.InCsumErrors', 1, 'checksum-error', true, 'UDP/IPv6 datagrams with a bad checksum'],
  ['Udp6.MemErrors', 1, 'socket-receive-buffer', true, 'UDP/IPv6 datagrams dropped because UDP memory was exhausted'],
  // CPU input backlog (host-wide: /proc/net/softnet_stat)
  ['softnet.dropped', 1, 'cpu-backlog-overflow', true, 'packets dropped because a CPU\'s input backlog was full (netdev_max_backlog)'],
  ['softnet.time_squeeze', 100, 'cpu-backlog-overflow', false, 'times packet processing ran out of budget with work left (netdev_budget)'],
  ['softnet.flow_limit_count', 1, 'cpu-backlog-overflow', true, 'packets dropped by the per-flow backlog limit (flow_limit)'],
  // Neighbour tables (/proc/net/stat/arp_cache, ndisc_cache: host-wide)
  ['neigh.arp_cache.unresolved_discards', 1, 'neighbour-failure', true, 'IPv4 packets discarded while waiting for ARP (queue full or resolution failed), all namespaces'],
  ['neigh.arp_cache.table_fulls', 1, 'neighbour-failure', false, 'times the ARP table was full (gc_thresh3), all namespaces'],
  ['neigh.arp_cache.res_failed', 10, 'neighbour-failure', false, 'ARP resolutions that failed, all namespaces'],
  ['neigh.ndisc_cache.unresolved_discards', 1, 'neighbour-failure', true, 'IPv6 packets discarded while waiting for neighbour discovery, all namespaces'],
  ['neigh.ndisc_cache.table_fulls', 1, 'neighbour-failure', false, 'times the IPv6 neighbour table was full (gc_thresh3), all namespaces'],
  ['neigh.ndisc_cache.res_failed', 10, 'neighbour-failure', false, 'neighbour-discovery resolutions that failed, all namespaces'],
  // Connection tracking (/proc/net/stat/nf_conntrack, per netns)
  ['nf_conntrack.drop', 1, 'conntrack-table-full', true, 'packets dropped because a conntrack entry could not be created (table full: nf_conntrack_max)'],
  ['nf_conntrack.early_drop', 1, 'conntrack-table-full', false, 'conntrack entries evicted early to make room (table full)'],
  ['nf_conntrack.insert_failed', 1, 'conntrack-clash', true, 'packets dropped because their conntrack entry could not be inserted (race/clash)'],
  ['nf_conntrack.invalid', 50, 'conntrack-invalid', false, 'packets conntrack could not classify (INVALID state; dropped if a rule says so)'],
  ['nf_conntrack.icmp_error', 10, undefined, false, 'ICMP errors conntrack could not match to a connection'],
  ['nf_conntrack.search_restart', 1000, undefined, false, 'conntrack hash lookups restarted (table being resized or churning)'],
  // Interfaces (/proc/net/dev: standard link statistics)
  ['dev.rx_dropped', 1, 'nic-rx-drops', true, 'packets received by the interface but dropped (includes missed: NIC ring full)'],
  ['dev.rx_fifo_errors', 1, 'nic-rx-drops', true, 'receive FIFO/ring overruns on the interface'],
  ['dev.rx_frame_errors', 1, 'checksum-error', true, 'frames received with CRC, length or alignment errors'],
  ['dev.rx_errors', 1, 'nic-rx-drops', true, 'receive errors reported by the driver'],
  ['dev.tx_dropped', 1, 'qdisc-overflow', true, 'packets dropped by the driver on transmit (peer down, ring full)'],
  ['dev.tx_errors', 1, undefined, true, 'transmit errors reported by the driver'],
  ['dev.tx_fifo_errors', 1, undefined, true, 'transmit FIFO underruns'],
  ['dev.tx_carrier_errors', 1, undefined, true, 'transmit carrier/aborted/window/heartbeat errors (link problems)'],
  // Queueing disciplines (tc -s qdisc)
  ['qdisc.drops', 1, 'qdisc-overflow', true, 'packets a queueing discipline dropped (queue full, policer, AQM)'],
  ['qdisc.overlimits', 1000, 'qdisc-overflow', false, 'times a shaper/policer found a packet over its rate (delayed or dropped)'],
  ['qdisc.requeues', 100, 'qdisc-overflow', false, 'packets the device refused and the qdisc had to requeue (driver busy)'],
];

const AGGREGATES = new Set(['Tcp.InErrs', 'Udp.InErrors', 'Udp6.InErrors', 'Icmp.InErrors', 'Icmp6.InErrors', 'Ip.InDiscards', 'Ip.OutDiscards', 'Ip6.InDiscards', 'Ip6.OutDiscards', 'dev.rx_errors', 'dev.tx_errors']);

const UNREACH = ['no-listener', 'no-route', 'firewall-rule', 'neighbour-failure', 'reverse-path-filter'];
const ECHOES: Record<string, readonly string[]> = {
  'Icmp.OutDestUnreachs': UNREACH, 'Icmp6.OutDestUnreachs': UNREACH,
  'Icmp.OutRateLimitGlobal': UNREACH, 'Icmp.OutRateLimitHost': UNREACH, 'Icmp6.OutRateLimitHost': UNREACH,
  'Icmp.InDestUnreachs': UNREACH, 'Icmp6.InDestUnreachs': UNREACH,
  'Tcp.OutRsts': ['no-listener', 'firewall-rule', 'listen-queue-overflow'],
  'Tcp.AttemptFails': ['no-listener', 'firewall-rule', 'listen-queue-overflow', 'conntrack-table-full', 'path-loss'],
  'IpExt.InNoRoutes': ['reverse-path-filter'],
  'TcpExt.EmbryonicRsts': ['listen-queue-overflow', 'no-listener'],
};

export const CATALOG: ReadonlyMap<string, CounterInfo> = new Map(ROWS.map(([n, floor, cause, loss, meaning]) => [n, {
  floor, cause, loss, meaning, ...(AGGREGATES.has(n) ? { aggregate: true } : {}), ...(ECHOES[n] ? { echoOf: ECHOES[n] } : {}),
}]));

/** Counters not in the table but named like losses are watched too, with a generic line. */
const GENERIC_LOSS = /(Drop|Discard|Overflow|Fail|Err|Prune|Abort|Reject|Miss|NoPort|NoRoute|Csum)/;

/** Decisions per source and name (a tick asks about every counter of every namespace). */
const decided = new Map<CounterSource, Map<string, CounterInfo | null>>();
let decisions = 0;

/** Catalog entry of a counter, or a generic one for unlisted loss-named counters; undefined = not watched. */
export function counterInfo(name: string, source: CounterSource): CounterInfo | undefined {
  let bySource = decided.get(source);
  if (!bySource) decided.set(source, (bySource = new Map()));
  let d = bySource.get(name);
  if (d === undefined) {
    d = lookup(name, source) ?? null;
    // Bounded: driver statistics names are the only open-ended set.
    if (decisions++ < 20_000) bySource.set(name, d);
  }
  return d ?? undefined;
}

function lookup(name: string, source: CounterSource): CounterInfo | undefined {
  const hit = CATALOG.get(name);
  if (hit) return hit;
  if (source === 'ethtool') return { floor: 1, cause: 'nic-rx-drops', loss: true, meaning: 'NIC driver statistic (ethtool -S): see the driver\'s documentation' };
  // MPTCP counters are their own subsystem: left to MPTCP tools.
  if (source === 'netstat' && name.startsWith('MPTcpExt.')) return undefined;
  if (source === 'nf_conntrack' || source === 'dev' || source === 'qdisc' || source === 'softnet' || source === 'neigh') return undefined;
  const short = name.slice(name.indexOf('.') + 1);
  if (GENERIC_LOSS.test(short)) return { floor: 10, meaning: `kernel counter ${name} (not described in droptrace's catalog; named like a loss)` };
  return undefined;
}
