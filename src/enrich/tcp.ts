// TCP state and congestion-avoidance state names (include/net/tcp_states.h and
// include/uapi/linux/tcp.h). These are uapi-stable numbers, unlike drop reasons.
import type { RetransmitType } from '../record/ecs.js';

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
 * Why was this segment retransmitted? Derived from socket state at the
 * tcp_retransmit_skb tracepoint:
 *  - SYN_SENT: the SYN itself (SYN_RECV with a full socket: our SYN-ACK).
 *  - the TLP timer is the pending one (icsk_pending == LOSS_PROBE): the timer
 *    handler runs tcp_send_loss_probe without clearing it, so a retransmit
 *    seen then is the probe.
 *  - CA state Loss: tcp_retransmit_timer entered Loss before resending (RTO).
 *  - CA state Recovery/Disorder/CWR: fast retransmit (dupacks/SACK/RACK).
 */
export function retransmitType(state: number, caState: number, pending: number): RetransmitType {
  if (state === TCP_SYN_SENT) return 'syn';
  if (state === TCP_SYN_RECV) return 'synack';
  if (pending === ICSK_TIME_LOSS_PROBE) return 'tlp';
  if (caState === TCP_CA_LOSS) return 'rto';
  if (caState === TCP_CA_RECOVERY || caState === TCP_CA_DISORDER || caState === TCP_CA_CWR) return 'fast';
  return 'unknown';
}
