// TCP state and congestion-avoidance state names (include/net/tcp_states.h and
// include/uapi/linux/tcp.h). These are uapi-stable numbers, unlike drop reasons.
import type { EcsRecord, RetransmitType } from '../record/ecs.js';
import { wireAddresses } from '../decode/address.js';

const TCP_STATES = [
  'UNKNOWN', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE',
];

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `UNKNOWN_${state}`;
}

export const TCP_CA_OPEN = 0;
export const TCP_CA_DISORDER = 1;
export const TCP_CA_CWR = 2;
export const TCP_CA_RECOVERY = 3;
export const TCP_CA_LOSS = 4;
const CA_NAMES = ['Open', 'Disorder', 'CWR', 'Recovery', 'Loss'];

export function caStateName(ca: number): string {
  return CA_NAMES[ca] ?? `UNKNOWN_${ca}`;
}

// icsk_pending values (include/net/inet_connection_sock.h).
const ICSK_TIME_LOSS_PROBE = 5;
const TCP_SYN_SENT = 2;
const TCP_SYN_RECV = 3;

/**
 * Why was this segment retransmitted? Derived from the socket's state at the
 * tcp_retransmit_skb tracepoint, following how the kernel itself counts
 * (net/ipv4/tcp_output.c, tcp_timer.c, 4.x–6.18):
 *  - SYN_SENT: the SYN itself (SYN_RECV with a full socket: our SYN-ACK).
 *  - CA state Loss → rto: tcp_retransmit_timer enters Loss before resending
 *    (TCPTimeouts), and every retransmit while in Loss is a slow-start
 *    retransmit after that timeout (TCPSlowStartRetrans).
 *  - CA state Recovery (also Disorder/CWR) → fast: tcp_xmit_retransmit_queue
 *    outside Loss, counted by the kernel as TCPFastRetrans (dupacks, SACK,
 *    RACK reordering timeout all enter Recovery first).
 *  - Open (or CWR) with the loss-probe timer pending → tlp: only the TLP timer
 *    handler (tcp_send_loss_probe) retransmits while no loss is known; it runs
 *    with icsk_pending still ICSK_TIME_LOSS_PROBE. The pending timer alone
 *    says nothing in Recovery: ACK processing retransmits before it re-arms the
 *    timer, which is why checking it first labelled fast retransmits as TLPs.
 *  - anything else (Open without a pending probe): unknown, not a guess.
 */
export function retransmitType(state: number, caState: number, pending: number): RetransmitType {
  if (state === TCP_SYN_SENT) return 'syn';
  if (state === TCP_SYN_RECV) return 'synack';
  if (caState === TCP_CA_LOSS) return 'rto';
  if (caState === TCP_CA_RECOVERY || caState === TCP_CA_DISORDER) return 'fast';
  if ((caState === TCP_CA_OPEN || caState === TCP_CA_CWR) && pending === ICSK_TIME_LOSS_PROBE) return 'tlp';
  if (caState === TCP_CA_CWR) return 'fast';
  return 'unknown';
}

/** A TCP event's source and destination (ECS) from its wire fields: each where its address is known, with its port where the wire has it. */
export function tcpEndpoints(ev: { l3?: number; s4?: number; d4?: number; s6?: string; d6?: string; sport?: number; dport?: number }): Pick<EcsRecord, 'source' | 'destination'> {
  const [sip, dip] = wireAddresses(ev);
  return {
    ...(sip !== undefined ? { source: ev.sport !== undefined ? { ip: sip, port: ev.sport } : { ip: sip } } : {}),
    ...(dip !== undefined ? { destination: ev.dport !== undefined ? { ip: dip, port: ev.dport } : { ip: dip } } : {}),
  };
}
